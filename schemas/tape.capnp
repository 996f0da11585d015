@0xe5cd66949146f544;
# A recorded run of the simulator: ticks in, frames out. Route: none live; a
# file of records written by sim/tape.py (`python -m sim.tape`, `tickstage sim
# --tape FILE`) and replayed by the simulator gateway (setting `replay` naming
# a .tape file). The file starts with the 8 bytes "tkstape\x01"; then each
# record is a 4-byte little-endian length and one unpacked TapeRecord message
# of that many bytes. The first record is the
# header; instruments come before the first tick that indexes them.
# Append-only: never renumber, retype or remove.

using Market = import "market.capnp";

struct TapeHeader {
  formatVersion @0 :UInt16;   # 1
  source @1 :Text;            # "synthetic seed=7 contracts=20000 rate=2000", or the replayed path
  startTsNs @2 :Int64;        # exchange time of the tape's origin, ns since UNIX epoch
}

struct TapeInstrument {
  instrument @0 :Market.Instrument;
  expiryYmd @1 :UInt32;       # last trading day as YYYYMMDD; 0 when unknown
  optionStrike @2 :Float64;   # strike, quote currency; 0 when not an option or read from the symbol
  optionRight @3 :Text;       # "C", "P", or "" (then the symbol tells)
  optionUnderlying @4 :Text;  # underlying symbol, "510050"; "" when the symbol tells
  longMarginRatio @5 :Float64;   # margin per unit of long position value (CTP LongMarginRatio); 0 when none
  shortMarginRatio @6 :Float64;  # the same for short positions (a synthetic option's may exceed 1: sim/margins.py)
}

struct TapeInstruments {
  firstIndex @0 :UInt32;                  # tape-wide index of instruments[0]
  instruments @1 :List(TapeInstrument);
}

struct TapeTicks {
  rows @0 :Market.L1Columns;  # indexes into the tape's instruments; gatewayRecvTsNs 0 (not received yet)
}

struct TapeFrame {
  recvTsNs @0 :Int64;         # when the client received it, ns since UNIX epoch
  client @1 :Text;            # the simulated client's name, "probe"
  payload @2 :Data;           # the ServerMessage bytes exactly as received
}

struct TapeRecord {
  union {
    header @0 :TapeHeader;
    instruments @1 :TapeInstruments;
    ticks @2 :TapeTicks;
    frame @3 :TapeFrame;
  }
}

@0x84823a5ef6267d43;
# Market data. Route: the vn.py gateway bridge sends one TickBatch per drain to
# each touched market/group/<group> actor (in process; NATS md.tick.<ex>.<sym>
# later); a GroupActor emits GroupFrame every 33 ms inside stream.capnp's
# ServerMessage to its sessions (NATS md.agg.33ms.<group>, md.snap.<group>).
# Columns are struct-of-arrays so numpy and browser typed arrays read them
# without per-row objects. Append-only: never renumber, retype or remove.

struct Instrument {
  vtSymbol @0 :Text;        # vn.py vt_symbol, "rb1801.SHFE"
  symbol @1 :Text;          # exchange symbol, "rb1801"
  exchange @2 :Text;        # vn.py Exchange name, "SHFE"
  product @3 :Text;         # exchange ProductID, "rb", "m_o"
  productClass @4 :Text;    # "F" futures, "O" options (CTP ProductClass)
  priceTick @5 :Float64;    # minimum price step, quote currency
  multiplier @6 :Float64;   # contract size (CTP VolumeMultiple), units per lot
  name @7 :Text;            # display name
  optionStrike @8 :Float64;      # option strike price, quote currency (0: not an option); vn.py ContractData.option_strike
  optionExpiryTsNs @9 :Int64;    # option expiry, ns since UNIX epoch (0: not an option, or unknown); vn.py option_expiry
  optionType @10 :Text;          # "call", "put", or "" for a future; vn.py ContractData.option_type
  optionUnderlying @11 :Text;    # the underlying's vt_symbol, "m1801.DCE" ("": none); vn.py option_underlying
}

struct L1Columns {
  # One row per changed contract; every list has the same length.
  indexes @0 :List(UInt32);             # row index into the group's GroupInfo.instruments
  lastPrices @1 :List(Float64);         # last traded price, quote currency (NaN: none yet)
  bidPrices @2 :List(Float64);          # best bid price, quote currency
  askPrices @3 :List(Float64);          # best ask price, quote currency
  bidVolumesLots @4 :List(Float64);     # volume at best bid, lots
  askVolumesLots @5 :List(Float64);     # volume at best ask, lots
  volumesLots @6 :List(Float64);        # traded volume for the trading day, cumulative, lots
  openInterestsLots @7 :List(Float64);  # open interest, lots
  exchangeTsNs @8 :List(Int64);         # exchange timestamp, ns since UNIX epoch (UTC)
  gatewayRecvTsNs @9 :List(Int64);      # when the tick reached the vn.py bridge, ns since UNIX epoch
}

enum FrameKind {
  delta @0;       # only rows changed since the previous frame (latest value wins)
  snapshot @1;    # every row of the group
}

struct TickBatch {
  group @0 :Text;           # destination group, "rb"
  rows @1 :L1Columns;       # conflated ticks, latest per contract
  drainTsNs @2 :Int64;      # when the bridge drained them on the loop thread, ns since epoch
  seq @3 :UInt64;           # per-group batch sequence from the bridge, +1 per batch (0: unsequenced);
                            # a jump tells the aggregator a batch was lost: it resyncs
  exchangeSkewNs @4 :Int64; # clock skew of the rows' exchange: venue receive − exchange time, the
                            # bridge's rolling minimum over that exchange's last 128 ticks, ns
                            # (transport/latency.py ExchangeClockSkew; 0: not measured yet)
}

struct GroupFrame {
  group @0 :Text;           # "rb"
  seq @1 :UInt64;           # per-group sequence; +1 per broadcast frame
  kind @2 :FrameKind;
  builtTsNs @3 :Int64;      # when the frame was encoded, ns since epoch
  windowMs @4 :UInt16;      # conflation window this frame closes, ms
  rows @5 :L1Columns;
  infoVersion @6 :UInt32;   # GroupInfo.version whose indexes the rows use
  stateCrc32 @7 :UInt32;    # CRC-32 of the group's whole L1 state after applying this frame
                            # (valid when stateHashed; layout below, schemas/state_hash.py)
  stateHashed @8 :Bool;     # true: stateCrc32 is set (every snapshot, a delta at least every
                            # 250 ms, every heartbeat)
  exchangeSkewNs @9 :Int64; # clock skew of the group's exchange (venue receive − exchange time) from
                            # the latest TickBatch, ns (0: not measured yet); a row's exchange → venue
                            # hop is gatewayRecvTsNs − exchangeTsNs − exchangeSkewNs
  epoch @10 :UInt64;        # the aggregator's lease revision over NATS (issue 16; 0: in process, no
                            # lease); a client drops a lower epoch and resyncs (asks a snapshot) on a
                            # higher one; seq restarts at a new epoch's snapshot
}

# Canonical L1 state for GroupFrame.stateCrc32 (schemas/state_hash.py computes it;
# ui/state_hash.js the same): CRC-32 (IEEE 802.3, zlib.crc32) over
#   n: UInt32 little-endian, the number of instruments in GroupInfo (rows 0..n-1);
#   then, column by column in this order, n Float64 little-endian values, row 0 first:
#   lastPrices, bidPrices, askPrices, bidVolumesLots, askVolumesLots, volumesLots,
#   openInterestsLots; every NaN written as 0x7FF8000000000000 (the canonical quiet NaN).
# The timestamp columns are hop metadata, not state shown, and are not hashed.
# A delta with no rows is a heartbeat: the group is alive and nothing changed.

enum GroupLiveness {
  live @0;         # frames or heartbeats arrive from a running source
  stale @1;        # no frame or heartbeat within the session's stale_after_s
  stopped @2;      # the group's actor was stopped (operator)
  restarting @3;   # the group's actor crashed or is being restarted
  sourceDown @4;   # the venue feed, or over NATS the aggregator node, is gone
  closed @5;       # none of the group's contracts is in a trading session (or outside configured windows)
  ended @6;        # a replay finished: no more ticks will come
  preOpen @7;      # closed, and none of its contracts has opened yet this trading day (not yet trading)
}

struct GroupStatus {
  # The liveness of one group as its subscribers should show it; sent on
  # subscribe and on every change (ServerMessage.groupStatus).
  group @0 :Text;              # "rb"
  state @1 :GroupLiveness;
  reason @2 :Text;             # human-readable cause, "no frame for 1.5 s"
  sinceTsNs @3 :Int64;         # when the group entered this state, ns since UNIX epoch
  dataTsNs @4 :Int64;          # last frame or heartbeat seen from the group, ns since epoch (0: none)
  epoch @5 :UInt64;            # the speaking aggregator's lease revision (GroupFrame.epoch; 0: no lease)
}

struct GroupInfo {
  group @0 :Text;
  version @1 :UInt32;               # bumps when instruments are appended
  instruments @2 :List(Instrument); # index i here is row index i in frames
  firstIndex @3 :UInt32;            # index of instruments[0] (0 for a full list; >0 for an append)
  epoch @4 :UInt64;                 # the sending aggregator's lease revision (GroupFrame.epoch; 0: no lease)
}

struct TickDetail {
  # Every tick of one contract since the previous TickDetail of it: the contract
  # detail view's stream (one per bridge drain that saw the contract tick; a tick
  # replaced by a newer one inside the same 5 ms drain is not in it).
  vtSymbol @0 :Text;        # "rb1801.SHFE"
  ticks @1 :L1Columns;      # oldest first; indexes unused (0)
  history @2 :Bool;         # true: the recent ticks sent once to a new subscriber
  depth @3 :DepthColumns;   # five levels of bids and asks per tick (empty lists: level 1 only, in ticks)
}

struct DepthColumns {
  # Five price levels of each tick of a TickDetail, tick-major: tick i's level k (1..5)
  # at index 5*i + k - 1; every list 5 x the ticks' length, or empty when not sent.
  # Values as vn.py's TickData bid_price_1..5 / bid_volume_1..5 / ask_price_1..5 /
  # ask_volume_1..5: 0 where the venue sends no such level; NaN where the level is
  # not known (a history row taken from the group's L1 state) or the user is not
  # entitled to depth (levels 2..5 masked).
  bidPrices @0 :List(Float64);        # bid price per level, quote currency
  bidVolumesLots @1 :List(Float64);   # volume at that bid, lots
  askPrices @2 :List(Float64);        # ask price per level, quote currency
  askVolumesLots @3 :List(Float64);   # volume at that ask, lots
}

struct Viewport {
  # The rows of one group a client shows (its visible window of the watchlist):
  # ClientMessage.viewport (browser → session) and ActorMessage.viewport
  # (session → market/group/<group>, the session's path in ActorMessage.source).
  # A delta cut by its frame budget keeps these rows first (actors/market/budget.py).
  group @0 :Text;         # group name, "rb"
  firstRow @1 :UInt32;    # first visible row, an index into GroupInfo.instruments
  rowCount @2 :UInt32;    # visible rows from firstRow (0: none shown; rows past the group's end are ignored)
  rowIndexes @3 :List(UInt32);  # the visible rows when they are not one run (a sorted view), indexes into
                                # GroupInfo.instruments; non-empty: firstRow and rowCount are ignored
}

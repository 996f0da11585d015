@0xecd33c86fd02b1f7;
# A session's flight recording: what the server sent one browser socket and
# what that socket sent it, captured only while an admin asks
# (POST /admin/recordings, transport/flight_api.py). Route: none live;
# GET /admin/recordings/<session id> returns a file: the 8 bytes "tkflight",
# then records, each a 4-byte little-endian length and one unpacked
# FlightRecord message of that many bytes. The first record is the header.
# ui/recorder.html replays a file into a watchlist. Append-only: never
# renumber, retype or remove.

enum FlightDirection {
  down @0;    # server → browser: a ServerMessage as queued for the socket
  up @1;      # browser → server: a ClientMessage as received (tokens redacted)
}

struct FlightHeader {
  formatVersion @0 :UInt16;     # 1
  sessionPath @1 :Text;         # "sessions/session/7"
  user @2 :Text;                # the token's sub
  role @3 :Text;                # "trader" or "admin"
  startedTsNs @4 :Int64;        # recording started, ns since UNIX epoch
  endedTsNs @5 :Int64;          # recording stopped or socket closed, ns since epoch; 0 while recording
  recordsDropped @6 :UInt64;    # oldest entries the bounded ring let go, count
  bytesDropped @7 :UInt64;      # their payload size, bytes
  startedBy @8 :Text;           # the admin who asked
}

struct FlightEntry {
  tsNs @0 :Int64;               # when the server queued (down) or read (up) it, ns since UNIX epoch
  direction @1 :FlightDirection;
  payload @2 :Data;             # the message bytes exactly (auth/refresh tokens replaced by "[redacted]")
}

struct FlightRecord {
  union {
    header @0 :FlightHeader;
    entry @1 :FlightEntry;
  }
}

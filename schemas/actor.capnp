@0xb4e41c6488d40331;
# Messages between tickstage actors, in process (Thespian simple base, as
# immutable bytes) and, later, between nodes over NATS. Each actor dispatches
# on the union's which(): member fooBar goes to _on_foo_bar.
# Append-only: new union members take the next free ordinal.

using Market = import "market.capnp";

struct Attach {
  sessionPath @0 :Text;   # "sessions/session/7"
  group @1 :Text;         # "rb"
}

enum OutboundKind {
  info @0;       # ServerMessage.groupInfo
  snapshot @1;   # ServerMessage.groupFrame, kind snapshot
  delta @2;      # ServerMessage.groupFrame, kind delta
  control @3;    # anything else (ack, error, pong)
}

struct Outbound {
  # An encoded ServerMessage for a socket, with what a session needs to
  # conflate it without decoding the payload.
  group @0 :Text;
  seq @1 :UInt64;
  kind @2 :OutboundKind;
  payload @3 :Data;       # ServerMessage bytes, sent unchanged to the socket
}

struct Timer {
  name @0 :Text;          # "flush"
  generation @1 :UInt32;  # stale timers (an older generation) are ignored
}

struct Failure {
  code @0 :Text;          # "unknown_message", "malformed"
  message @1 :Text;
}

struct ActorMessage {
  union {
    tickBatch @0 :Market.TickBatch;       # bridge → group
    instrumentsAdded @1 :Market.GroupInfo; # bridge → group, appended instruments
    attach @2 :Attach;                     # session → group: subscribe
    detach @3 :Attach;                     # session → group: unsubscribe
    snapshotRequest @4 :Attach;            # session → group: snapshot to one session
    outbound @5 :Outbound;                 # group → session
    client @6 :Data;                       # ws gateway → session: a validated ClientMessage
    timer @7 :Timer;                       # loop timer → actor
    socketDrained @8 :Void;                # ws writer → session: outbox empty
    groupRestarted @9 :Text;               # group → sessions supervisor → sessions: re-attach
    resyncRequest @10 :Text;               # group → gateway: send latest rows of this group
    crash @11 :Text;                       # fault injection: raise in the handler with this text
    failure @15 :Failure;                  # reply to a message the actor could not take
  }
  correlationId @12 :UInt64;
  sentTsNs @13 :Int64;                     # ns since UNIX epoch
  source @14 :Text;                        # sender actor path
}

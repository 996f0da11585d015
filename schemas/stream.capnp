@0x81b5334c804086a4;
# The browser WebSocket (/ws): one message per binary frame, unpacked.
# ClientMessage travels up (browser → transport/ws.py → session/<id>),
# ServerMessage travels down (session/<id> → browser). Every message carries
# an Envelope. Append-only: new union members take the next free ordinal.

using Market = import "market.capnp";
using Orders = import "orders.capnp";
using Accounts = import "accounts.capnp";

struct Envelope {
  id @0 :UInt64;              # sender-unique message id
  correlationId @1 :UInt64;   # id of the message this answers (0: none)
  sentTsNs @2 :Int64;         # when sent, ns since UNIX epoch (server clock down, client clock up)
  schemaVersion @3 :UInt16;   # schemas/__init__.py SCHEMA_VERSION of the writer
  source @4 :Text;            # actor path or client name, "sessions/session/7"
}

struct Auth { token @0 :Text; }                    # a JWT (HS256 or RS256)
struct Subscribe { groups @0 :List(Text); }        # group names, "rb"
struct Unsubscribe { groups @0 :List(Text); }
struct SnapshotRequest { group @0 :Text; }         # after a seq gap
struct Ping { clientTsNs @0 :Int64; }              # client clock, ns since epoch
struct Refresh { token @0 :Text; }                 # a new JWT for the same user, sent before the current one expires
struct ContractList { vtSymbols @0 :List(Text); }  # vn.py vt_symbols, "rb1801.SHFE"
struct WatchlistUpdate {
  # Edits the user's own watchlist group (ack detail: its name); debounced by the page.
  add @0 :List(Text);      # vt_symbols to add
  remove @1 :List(Text);   # vt_symbols to remove
}

struct ClientMessage {
  union {
    auth @0 :Auth;
    subscribe @1 :Subscribe;
    unsubscribe @2 :Unsubscribe;
    snapshotRequest @3 :SnapshotRequest;
    ping @4 :Ping;
    refresh @6 :Refresh;     # replaces the socket's token before it expires
    submitOrder @7 :Orders.SubmitOrder;               # → orders/<account>; answered by orderReply
    cancelOrder @8 :Orders.CancelOrder;               # → orders/<account>; answered by cancelReply
    orderStatusRequest @9 :Orders.OrderStatusRequest; # → orders/<account>; answered by orderStatusReply
    subscribeTicks @10 :ContractList;    # contract detail: every tick of these contracts (tickDetail)
    unsubscribeTicks @11 :ContractList;
    watchlistUpdate @12 :WatchlistUpdate; # membership of the user's watchlist group
    replaceOrder @13 :Orders.ReplaceOrder;            # → orders/<account>; answered by replaceReply
    cancelAll @14 :Orders.CancelAll;                  # → orders/<account>; answered by cancelAllReply
    viewport @15 :Market.Viewport;        # rows of a group the client shows: kept first in a cut frame
    startAlgo @16 :Orders.StartAlgo;     # → the desk's algo engine; answered by ack (detail: the jobId) or error
    pauseAlgo @17 :Orders.AlgoJobRef;
    resumeAlgo @18 :Orders.AlgoJobRef;
    stopAlgo @19 :Orders.AlgoJobRef;
    flattenPosition @20 :Orders.FlattenPosition;      # → orders/<account>; answered by flattenReply
  }
  envelope @5 :Envelope;
}

enum ErrorCode {
  internal @0;
  malformed @1;         # not a decodable ClientMessage
  tooLarge @2;          # frame over the inbound size limit
  unauthenticated @3;   # no valid auth yet, or a bad token
  tokenExpired @4;
  forbidden @5;
  unknownGroup @6;
  limitExceeded @7;
  rateLimited @8;
  unknownMessage @9;    # a union member this server does not handle
  unknownContract @10;  # a vt_symbol the gateway has not seen
}

struct Ack {
  of @0 :Text;          # the ClientMessage member acknowledged, "subscribe"
  detail @1 :Text;
}

struct Error {
  code @0 :ErrorCode;
  message @1 :Text;     # human-readable; never contains secrets
}

struct Pong {
  clientTsNs @0 :Int64; # echoed from Ping
  socketSend @1 :LatencyPercentiles; # frame built → written to this socket, the session's recent frames
                                     # (server clock); the envelope's sentTsNs, with clientTsNs and the
                                     # receive time, gives the client's clock offset (NTP-style)
}

struct LatencyPercentiles {
  # Percentiles of one hop over a session's recent samples (transport/latency.py LatencyRing).
  p50Ns @0 :Int64;      # ns
  p95Ns @1 :Int64;      # ns
  p99Ns @2 :Int64;      # ns
  samples @3 :UInt32;   # samples the percentiles are over (0: none yet, the percentiles are 0)
}

struct ServerMessage {
  union {
    groupFrame @0 :Market.GroupFrame;
    groupInfo @1 :Market.GroupInfo;
    ack @2 :Ack;
    error @3 :Error;
    pong @4 :Pong;
    orderReply @6 :Orders.OrderReply;              # to the submitting socket (correlationId = its envelope id)
    cancelReply @7 :Orders.CancelReply;
    orderStatusReply @8 :Orders.OrderStatusReply;
    orderAccepted @9 :Orders.OrderAccepted;        # order events: to every session of the account's trader
    orderRejected @10 :Orders.OrderRejected;
    orderUpdated @11 :Orders.OrderUpdated;
    orderFilled @12 :Orders.OrderFilled;
    outcomeUnknown @13 :Orders.OutcomeUnknown;
    accountStatus @14 :Accounts.AccountStatus;     # every 1 s per account
    riskSummary @15 :Accounts.RiskSummary;         # every 1 s per account
    riskEvent @16 :Accounts.RiskEvent;             # a rejection, a breach, a rule actor down
    limitChanged @17 :Accounts.LimitChanged;
    killSwitchChanged @18 :Accounts.KillSwitchChanged;
    tickDetail @19 :Market.TickDetail;             # every tick of a contract the socket subscribed (subscribeTicks)
    groupStatus @20 :Market.GroupStatus;           # a subscribed group's liveness: on subscribe and on change
    replaceReply @21 :Orders.ReplaceReply;         # to the replacing socket, once the new order is decided
    cancelAllReply @22 :Orders.CancelAllReply;
    algoProgress @23 :Orders.AlgoProgress;         # every 1 s per running algo job, to its account's traders
    flattenReply @24 :Orders.FlattenReply;         # to the flattening socket, once its closing orders are admitted
  }
  envelope @5 :Envelope;
}

@0xb4e41c6488d40331;
# Messages between tickstage actors, in process (Thespian simple base, as
# immutable bytes) and, later, between nodes over NATS. Each actor dispatches
# on the union's which(): member fooBar goes to _on_foo_bar.
# Append-only: new union members take the next free ordinal.

using Market = import "market.capnp";
using Orders = import "orders.capnp";
using Accounts = import "accounts.capnp";

struct Entitlement {
  # One entry of a token's "ent" claim (actors/market/entitlements.py).
  exchange @0 :Text;            # vn.py Exchange name, "CFFEX"; "*": every exchange not listed
  fieldClasses @1 :List(Text);  # "l1" (prices, volumes), "oi" (open interest), "depth" (levels 2..5)
}

struct Attach {
  sessionPath @0 :Text;   # "sessions/session/7"
  group @1 :Text;         # "rb"
  limited @2 :Bool;       # attach: the token has an "ent" claim (false: every field of every exchange) ...
  entitlements @3 :List(Entitlement); # ... granting these; the group sends this session its class's frames
  tag @4 :UInt32;         # attach: echoed in Outbound.tag of the info that answers it (0: none)
  epoch @5 :UInt64;       # attach only: the NATS publisher's lease revision on the group (issue 16); a
                          # higher one than the group's makes it stamp every later frame with it (0: keep)
}

enum OutboundKind {
  info @0;       # ServerMessage.groupInfo
  snapshot @1;   # ServerMessage.groupFrame, kind snapshot
  delta @2;      # ServerMessage.groupFrame, kind delta
  control @3;    # anything else (ack, error, pong)
  detail @4;     # ServerMessage.tickDetail: best effort, dropped for a socket over its high-water mark
  status @5;     # ServerMessage.groupStatus: the group's own view of its liveness
}

struct Outbound {
  # An encoded ServerMessage for a socket, with what a session needs to
  # conflate it without decoding the payload.
  group @0 :Text;
  seq @1 :UInt64;
  kind @2 :OutboundKind;
  payload @3 :Data;       # ServerMessage bytes, sent unchanged to the socket
  tag @4 :UInt32;         # info answering an attach: that Attach.tag (0 otherwise)
}

struct Timer {
  name @0 :Text;          # "flush"
  generation @1 :UInt32;  # stale timers (an older generation) are ignored
}

struct Failure {
  code @0 :Text;          # "unknown_message", "malformed"
  message @1 :Text;
}

# -- the order path (issue 3): orders/<account>, risk/<rule>/<account>, accounts/<account>

struct OrderCommand {
  # session → orders/<account>: a validated ClientMessage (submitOrder, cancelOrder,
  # orderStatusRequest) from a socket whose token grants the account.
  sessionPath @0 :Text;   # where the reply goes, "sessions/session/7"
  user @1 :Text;          # JWT sub of the sender, journaled
  client @2 :Data;        # the ClientMessage bytes, unchanged
  accounts @3 :List(Text); # the sender's verified token's accounts claim (an order host across NATS
                           # checks the command's account against it: transport/cluster/nats_orders.py)
  allAccounts @4 :Bool;   # the sender's verified token is an admin's: every account
}

struct RiskCheck {
  # orders/<account> → every rule actor of the account (and the global ones).
  checkId @0 :UInt64;              # unique per order actor incarnation; verdicts quote it
  clientOrderId @1 :Text;
  account @2 :Text;
  vtSymbol @3 :Text;
  group @4 :Text;                  # contract group (exchange product), "rb"
  direction @5 :Orders.Direction;
  offset @6 :Orders.Offset;
  orderType @7 :Orders.OrderType;
  price @8 :Float64;               # quote currency
  volumeLots @9 :Float64;          # lots
  lastPrice @10 :Float64;          # latest tick's last price, quote currency; NaN: no tick yet
  priceTick @11 :Float64;          # quote currency; 0: contract unknown
  multiplier @12 :Float64;         # units per lot; 0: contract unknown
  tsNs @13 :Int64;                 # submission time, ns since UNIX epoch
}

struct RiskVerdict {
  checkId @0 :UInt64;
  rule @1 :Text;                   # "order_flow"
  approved @2 :Bool;
  rejection @3 :Orders.Rejection;  # set when not approved
}

enum RiskUpdateKind {
  released @0;          # the order stopped counting as active (final, or refused after approval)
  sent @1;              # it reached the gateway
  filled @2;            # a fill (volumeLots, price of this fill)
  cancelRequested @3;   # a cancel went to the gateway
  gatewayRejected @4;   # vn.py ("" from send_order) or the exchange rejected it
  replayed @5;          # resync: one order of the journal, summarized
  resynced @6;          # resync: end of the replay
  resyncStarted @7;     # resync: forget your order state, a replay follows
}

struct RiskUpdate {
  # orders/<account> → the rule actors that observe this kind.
  kind @0 :RiskUpdateKind;
  clientOrderId @1 :Text;
  vtSymbol @2 :Text;
  group @3 :Text;
  direction @4 :Orders.Direction;
  offset @5 :Orders.Offset;
  price @6 :Float64;               # order price; for filled: the fill price (quote currency)
  volumeLots @7 :Float64;          # order volume; for filled: the fill volume (lots)
  tradedLots @8 :Float64;          # replayed: lots filled so far
  active @9 :Bool;                 # replayed: still counts as an active order
  cancelRequested @10 :Bool;       # replayed
  rejectedByGateway @11 :Bool;     # replayed
  tsNs @12 :Int64;                 # when it happened (replayed: the order's creation), ns since epoch
  sent @13 :Bool;                  # replayed: the order reached the gateway
}

struct VnpyOrder {
  # order bridge → orders/<account>: one vn.py OrderData (EVENT_ORDER).
  vtOrderId @0 :Text;
  reference @1 :Text;              # OrderRequest.reference ("" on updates after SUBMITTING)
  vtSymbol @2 :Text;
  direction @3 :Orders.Direction;
  offset @4 :Orders.Offset;
  orderType @5 :Orders.OrderType;
  price @6 :Float64;               # quote currency
  volumeLots @7 :Float64;
  tradedLots @8 :Float64;
  status @9 :Orders.OrderStatus;
  tsNs @10 :Int64;                 # gateway time, ns since epoch (0: none)
  gatewayName @11 :Text;
  account @12 :Text;               # strategy account the bridge routed it to
}

struct VnpyTrade {
  # order bridge → orders/<account> and accounts/<account>: one vn.py TradeData (EVENT_TRADE).
  vtTradeId @0 :Text;
  vtOrderId @1 :Text;
  vtSymbol @2 :Text;
  direction @3 :Orders.Direction;
  offset @4 :Orders.Offset;
  price @5 :Float64;               # quote currency
  volumeLots @6 :Float64;
  tsNs @7 :Int64;                  # trade time, ns since epoch
  gatewayName @8 :Text;
  account @9 :Text;
}

struct VnpyAccount {
  # order bridge → accounts/<account>: one vn.py AccountData (EVENT_ACCOUNT) of a real account.
  vtAccountId @0 :Text;
  gatewayName @1 :Text;
  balance @2 :Float64;             # quote currency
  frozen @3 :Float64;
  available @4 :Float64;
  tsNs @5 :Int64;
}

struct Journaled {
  # journal writer thread → orders/<account>: a write-ahead record is durable.
  clientOrderId @0 :Text;
  ok @1 :Bool;
  error @2 :Text;                  # when not ok
}

struct AccountPush {
  # orders/accounts/risk actors → sessions supervisor → every session granted the account.
  account @0 :Text;
  payload @1 :Data;                # ServerMessage bytes, encoded once
}

struct SessionAccounts {
  # session → sessions supervisor: which accounts' pushes this session takes.
  sessionPath @0 :Text;
  accounts @1 :List(Text);
  all @2 :Bool;                    # admin: every account
  attached @3 :Bool;               # false: forget this session
}

struct CancelOpenOrders {
  # kill switch → orders/<account>: cancel every open order (of one group, or all).
  group @0 :Text;                  # "" = every group
  reason @1 :Text;
  by @2 :Text;
}

struct PnlUpdate {
  # accounts/<account> → risk/daily_loss/<account>.
  account @0 :Text;
  realizedPnl @1 :Float64;         # today, quote currency
  unrealizedPnl @2 :Float64;       # quote currency
  tsNs @3 :Int64;
  marked @4 :Bool;                 # every contract held had a mark (a last price); false: unrealizedPnl is partial
}

struct KillSwitchCommand {
  # admin route / daily_loss rule → risk/kill_switch/<account> or risk/kill_switch/global.
  scope @0 :Accounts.KillSwitchScope;
  target @1 :Text;                 # account id, group, or "global"
  state @2 :Accounts.KillSwitchState;
  by @3 :Text;
  reason @4 :Text;
}

struct OrderCounts {
  # orders/<account> → accounts/<account>, when they change.
  open @0 :UInt32;
  unknownOutcomes @1 :UInt32;
  rejections @2 :UInt64;
  orders @3 :UInt64;
}

struct TickSubscription {
  # session → market/ticks: start or stop the contract detail stream of these contracts.
  sessionPath @0 :Text;
  vtSymbols @1 :List(Text);
  subscribe @2 :Bool;     # false: unsubscribe (also sent for every contract when the session stops)
  correlationId @3 :UInt64; # the ClientMessage's envelope id, quoted by the ack or error (0: none wanted)
  allGroups @4 :Bool;     # the token may see every market group ...
  groups @5 :List(Text);  # ... or only these: a contract of another group is refused (forbidden)
  limited @6 :Bool;       # the token has an "ent" claim (false: every field) ...
  entitlements @7 :List(Entitlement); # ... granting these: unentitled tick fields are sent as NaN
  tag @8 :UInt32;         # subscribe: echoed in Outbound.tag of each contract's history (0: none)
}

struct EntitlementsChanged {
  # ws gateway → session: a refresh changed the token's "ent" claim; the session
  # attaches again with it (dropping frames of the old class until the answer) and acks.
  correlationId @0 :UInt64; # the refresh's envelope id, quoted by the ack
  expiresTs @1 :Int64;      # the new token's exp, seconds since UNIX epoch (the ack's detail)
}

struct WatchlistMembership {
  # session → gateway: edit a user's watchlist group; the bridge routes the contracts' ticks to it.
  group @0 :Text;         # the user's watchlist group, "watch-trader1"
  add @1 :List(Text);     # vt_symbols
  remove @2 :List(Text);
  sessionPath @3 :Text;   # where the ack or error goes
  correlationId @4 :UInt64; # the ClientMessage's envelope id, quoted by the reply
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
    orderCommand @16 :OrderCommand;        # session → orders/<account>
    riskCheck @17 :RiskCheck;              # orders/<account> → risk/<rule>/<account>
    riskVerdict @18 :RiskVerdict;          # risk rule → orders/<account>
    riskUpdate @19 :RiskUpdate;            # orders/<account> → risk rules observing the kind
    riskResyncRequest @20 :Text;           # risk rule (its path) → orders/<account>: replay your orders;
                                           # risk/daily_loss/<account> → accounts/<account>: send your PnL now
    vnpyOrder @21 :VnpyOrder;              # order bridge → orders/<account>
    vnpyTrade @22 :VnpyTrade;              # order bridge → orders/<account>, accounts/<account>
    vnpyAccount @23 :VnpyAccount;          # order bridge → accounts/<account>
    journaled @24 :Journaled;              # journal writer → orders/<account>
    accountPush @25 :AccountPush;          # order/account/risk actors → sessions supervisor
    sessionAccounts @26 :SessionAccounts;  # session → sessions supervisor
    cancelOpenOrders @27 :CancelOpenOrders; # kill switch → orders/<account>
    pnlUpdate @28 :PnlUpdate;              # accounts/<account> → risk/daily_loss/<account>
    ruleStatusRequest @29 :Void;           # accounts/<account> → its rules, every 1 s
    ruleStatus @30 :Accounts.RuleStatus;   # rule → accounts/<account>
    riskEvent @31 :Accounts.RiskEvent;     # rule → accounts/<account> → sessions
    limitChange @32 :Accounts.LimitChanged; # admin route → rule
    killSwitchCommand @33 :KillSwitchCommand; # admin route / daily_loss → kill switch
    killSwitchChanged @34 :Accounts.KillSwitchChanged; # kill switch → accounts/<account>, orders
    orderCounts @35 :OrderCounts;          # orders/<account> → accounts/<account>
    tickSubscription @36 :TickSubscription; # session → market/ticks
    tickDetail @37 :Market.TickDetail;      # bridge → market/ticks, one per watched contract per drain
    watchlistMembership @38 :WatchlistMembership; # session → gateway
    groupStatus @39 :Market.GroupStatus;    # market supervisor → sessions supervisor → sessions (stopped,
                                            # restarting); bridge → group (sourceDown, ended, live)
    entitlementsChanged @40 :EntitlementsChanged; # ws gateway → session, after a refresh
    viewport @41 :Market.Viewport;          # session → market/group/<group> (source: the session path)
  }
  correlationId @12 :UInt64;
  sentTsNs @13 :Int64;                     # ns since UNIX epoch
  source @14 :Text;                        # sender actor path
}

# -- the cluster (issue 16): NATS KV leases and node announcements (transport/cluster/leases.py, nodes.py)

struct LeaseRecord {
  # The value of one key (a group) in the JetStream KV bucket tickstage_leases.
  node @0 :Text;          # the leading aggregator node's name, "aggregator-1"
  epoch @1 :UInt64;       # the KV revision its create got: the fencing token frames carry (0: just taken)
  takenTsNs @2 :Int64;    # when it took the lease, ns since UNIX epoch
  renewedTsNs @3 :Int64;  # when it last renewed it, ns since UNIX epoch
}

struct ReplicatedOrderRow {
  # One transition of one order on the JetStream stream ORDERS, subject journal.order.<account>.<clientOrderId>
  # (transport/cluster/order_stream.py): what the active venue-host journaled, so a standby knows every id.
  node @0 :Text;          # the writing venue-host node, "venue-host-a"
  epoch @1 :UInt64;       # the venue-host lease epoch it held when it wrote the row (its fencing token)
  seq @2 :UInt64;         # the writer's row counter within its epoch: a later row of an order has a higher one
  writtenTsNs @3 :Int64;  # when published, ns since UNIX epoch
  account @4 :Text;       # the strategy account
  clientOrderId @5 :Text; # the client order id
  rowJson @6 :Text;       # the journal's orders row (actors/orders/journal_rows.py ORDER_COLUMNS) as JSON
}

struct NodeAnnouncement {
  # A node's heartbeat on ops.node.<node>, every second.
  node @0 :Text;           # node name, "aggregator-1"
  role @1 :Text;           # "all", "edge", "aggregator", "venue-host"
  host @2 :Text;           # host name
  pid @3 :UInt32;          # process id
  startedTsNs @4 :Int64;   # process start, ns since UNIX epoch
  sentTsNs @5 :Int64;      # when announced, ns since UNIX epoch
  loopLagNs @6 :Int64;     # how late the announcement timer fired on the node's loop, ns
  groupsLed @7 :List(Text); # groups whose lease this node holds
  groupsFollowed @8 :List(Text); # groups it keeps warm as a follower
}

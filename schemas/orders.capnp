@0x9a9571f58efc578d;
# Orders. Routes: browser → /ws → sessions/session/<id> → orders/<account>
# (SubmitOrder, CancelOrder, OrderStatusRequest inside stream.capnp's
# ClientMessage); orders/<account> → the trader's sessions → browser
# (OrderReply, CancelReply, OrderStatusReply and the past-tense order events
# inside ServerMessage). Over NATS later: order.submit.<account> (request-reply,
# the client order id as Nats-Msg-Id on the audit stream) and
# order.update.<account>. Enumerants mirror vn.py's enum member names
# (vn.py's enum values are localized: always map by .name). Append-only:
# never renumber, retype or remove.

enum Direction {            # vn.py Direction
  long @0;
  short @1;
  net @2;
}

enum Offset {               # vn.py Offset
  none @0;
  open @1;
  close @2;
  closeToday @3;
  closeYesterday @4;
}

enum OrderType {            # vn.py OrderType
  limit @0;
  market @1;
  stop @2;
  fak @3;
  fok @4;
  rfq @5;
  etf @6;
}

enum OrderStatus {          # vn.py Status
  submitting @0;
  notTraded @1;
  partTraded @2;
  allTraded @3;
  cancelled @4;
  rejected @5;
}

enum OrderState {
  # Where tickstage's order actor has the order: the blotter's state column.
  pending @0;          # risk checks or the write-ahead journal write in progress; nothing sent
  sent @1;             # MainEngine.send_order returned a vt_orderid; no exchange answer yet
  working @2;          # the exchange answered: NOTTRADED or PARTTRADED
  filled @3;           # ALLTRADED
  cancelled @4;        # CANCELLED (possibly after partial fills), or closed by the desk (OrderView.reason)
  rejected @5;         # by a risk rule, by vn.py locally ("" from send_order) or by the exchange
  outcomeUnknown @6;   # sent, no answer within the timeout; resolved by queries and order events
}

struct SubmitOrder {
  clientOrderId @0 :Text;   # chosen by the client, 1..64 bytes UTF-8, unique per account: the idempotency key
  account @1 :Text;         # strategy account, "acct-01"
  vtSymbol @2 :Text;        # vn.py vt_symbol, "rb1801.SHFE"
  direction @3 :Direction;
  offset @4 :Offset;
  orderType @5 :OrderType;
  price @6 :Float64;        # limit price, quote currency
  volumeLots @7 :Float64;   # order volume, lots (a whole number > 0)
  reference @8 :Text;       # optional client tag, kept in the journal and the blotter
}

struct CancelOrder {
  clientOrderId @0 :Text;   # the order to cancel
  account @1 :Text;
}

struct OrderStatusRequest {
  account @0 :Text;
  clientOrderIds @1 :List(Text);   # empty: every open order of the account, and finished ones (below)
  finishedLimit @2 :UInt32;        # empty ids: at most this many finished orders, newest first (0: all in the journal)
}

struct Rejection {
  # Why an order was refused: a value, never an exception.
  rule @0 :Text;         # risk rule ("active_order", "order_flow" ...), "validity", "gateway", "exchange"
  limit @1 :Float64;     # the limit in the rule's unit (lots, orders, quote currency ...); NaN: none
  observed @2 :Float64;  # the observed value, this order included, same unit; NaN: none
  reason @3 :Text;       # human-readable
}

enum ReplyStatus {
  accepted @0;         # the exchange took the order (it may already be filled); vtOrderId set
  rejected @1;         # rejection says who and why
  outcomeUnknown @2;   # sent, no answer within the timeout; order events follow when it resolves
}

struct OrderReply {
  # The answer to a SubmitOrder. Every reply for one clientOrderId carries the same
  # decision (a retry gets the original reply; only the envelope differs).
  clientOrderId @0 :Text;
  account @1 :Text;
  status @2 :ReplyStatus;
  vtOrderId @3 :Text;        # vn.py vt_orderid; "" when the order never reached the gateway
  rejection @4 :Rejection;   # set when status is rejected
  decidedTsNs @5 :Int64;     # when the decision was made, ns since UNIX epoch
}

enum CancelStatus {
  sent @0;             # a cancel request went to the gateway (or already had)
  unknownOrder @1;     # no such client order id in this account
  notActive @2;        # the order is already final (filled, cancelled, rejected)
  notSent @3;          # the order has no vt_orderid yet (pending); cancel again later
  ambiguous @4;        # not sent: the order's vtOrderId also names another open order (a venue reusing ids)
}

struct CancelReply {
  clientOrderId @0 :Text;
  account @1 :Text;
  status @2 :CancelStatus;
  vtOrderId @3 :Text;
}

struct OrderView {
  # One blotter row: an order as the order actor knows it now.
  clientOrderId @0 :Text;
  account @1 :Text;
  vtSymbol @2 :Text;
  direction @3 :Direction;
  offset @4 :Offset;
  orderType @5 :OrderType;
  price @6 :Float64;          # limit price, quote currency
  volumeLots @7 :Float64;     # lots
  state @8 :OrderState;
  vtOrderId @9 :Text;         # "" until known
  status @10 :OrderStatus;    # vn.py's latest status (submitting until the exchange answers)
  tradedLots @11 :Float64;    # lots filled so far
  avgPrice @12 :Float64;      # average fill price, quote currency (0: no fill)
  rejection @13 :Rejection;   # set when state is rejected
  createdTsNs @14 :Int64;     # first submission, ns since UNIX epoch
  updatedTsNs @15 :Int64;     # last change, ns since UNIX epoch
  reference @16 :Text;        # the client's tag
  reason @17 :Text;           # why the desk put the order in its state, when the desk decided it: an
                              # outcomeUnknown's cause, or why recovery closed an order the venue did not
                              # know (state cancelled, never rejected: it may have reached the venue); "" otherwise
  replaces @18 :Text;         # the client order id this order replaces (replaceOrder); "" otherwise
  replacedBy @19 :Text;       # the client order id of the order replacing this one; "" otherwise
}

struct OrderStatusReply {
  account @0 :Text;
  orders @1 :List(OrderView);
}

struct OrderAccepted { order @0 :OrderView; }    # the exchange took the order
struct OrderRejected { order @0 :OrderView; }    # order.rejection says who and why
struct OrderUpdated { order @0 :OrderView; }     # vn.py status, traded lots or average price changed

struct OrderFilled {
  order @0 :OrderView;       # after this fill
  vtTradeId @1 :Text;        # vn.py vt_tradeid (fills are deduplicated by it)
  price @2 :Float64;         # fill price, quote currency
  volumeLots @3 :Float64;    # fill volume, lots
  tsNs @4 :Int64;            # trade time, ns since UNIX epoch
}

struct OutcomeUnknown {
  order @0 :OrderView;       # state outcomeUnknown
  sinceTsNs @1 :Int64;       # when the order was sent, ns since UNIX epoch
  reason @2 :Text;           # "no exchange answer within 2.0 s", "recovered from the journal"
}

# -- Order functions (issue 17): replace and cancel-all. Same route as SubmitOrder. ---------------

struct ReplaceOrder {
  # New price and/or volume for a working order. vn.py has no modify: the desk cancels the working order
  # and, once it is final, sends a linked new order (newClientOrderId) of volumeLots less what filled.
  clientOrderId @0 :Text;      # the working order
  account @1 :Text;
  newClientOrderId @2 :Text;   # the replacing order's id, 1..64 bytes: the idempotency key of the replace
  price @3 :Float64;           # new limit price, quote currency
  volumeLots @4 :Float64;      # new total volume, lots; the new order gets this less the lots filled
}

enum ReplaceStatus {
  accepted @0;         # the replacing order was accepted by the exchange
  rejected @1;         # refused (rejection says who and why: a risk rule, "filled before replace" ...)
  outcomeUnknown @2;   # the replacing order was sent, no answer within the timeout
  unknownOrder @3;     # no such working order in this account
  notWorking @4;       # the order is final, not yet at the exchange, outcomeUnknown, or already being replaced
}

struct ReplaceReply {
  # The answer to a ReplaceOrder: every retry with the same newClientOrderId gets the same decision.
  clientOrderId @0 :Text;      # the replaced order
  account @1 :Text;
  newClientOrderId @2 :Text;
  status @3 :ReplaceStatus;
  vtOrderId @4 :Text;          # the replacing order's vn.py vt_orderid ("" when not sent)
  volumeLots @5 :Float64;      # the replacing order's volume, lots (the request's less the lots filled)
  filledBeforeLots @6 :Float64; # lots of the replaced order filled before its cancel took effect
  rejection @7 :Rejection;     # why, when status is rejected, unknownOrder or notWorking (rule "replace" for its own)
}

struct CancelAll {
  # Cancel every open order of an account, optionally of one contract and/or one direction.
  requestId @0 :Text;          # chosen by the client, 1..64 bytes: the idempotency key
  account @1 :Text;
  vtSymbol @2 :Text;           # "": every contract
  direction @3 :Direction;     # read only when byDirection
  byDirection @4 :Bool;        # false: both directions
}

struct CancelAllReply {
  requestId @0 :Text;
  account @1 :Text;
  clientOrderIds @2 :List(Text);   # the orders a cancel was sent for (or will be, once they have a vt_orderid)
}

# -- vn.py algos (vnpy_algotrading) run by the desk; every child order goes through the order path ----------

struct AlgoSetting {
  key @0 :Text;              # a key of the template's default_setting, "time"
  value @1 :Text;            # its value as text, "10" (parsed as a finite number)
}

struct StartAlgo {
  jobId @0 :Text;            # chosen by the client, 1..64 bytes; idempotent like a client order id
  account @1 :Text;          # strategy account
  template @2 :Text;         # vnpy_algotrading template class, "TwapAlgo", "IcebergAlgo", "SniperAlgo", "StopAlgo", "BestLimitAlgo"
  vtSymbol @3 :Text;
  direction @4 :Direction;
  offset @5 :Offset;
  price @6 :Float64;         # limit price, quote currency
  volumeLots @7 :Float64;    # total volume, lots
  settings @8 :List(AlgoSetting);   # TwapAlgo: time and interval in seconds
}

struct AlgoJobRef {
  jobId @0 :Text;
  account @1 :Text;
}

enum AlgoStatus {
  running @0;
  paused @1;
  stopped @2;
  finished @3;
}

struct AlgoProgress {
  jobId @0 :Text;
  account @1 :Text;
  template @2 :Text;
  status @3 :AlgoStatus;
  tradedLots @4 :Float64;
  volumeLots @5 :Float64;
  avgPrice @6 :Float64;      # average fill price, quote currency (NaN: nothing traded)
  openChildren @7 :UInt32;   # child orders not yet final
  message @8 :Text;          # the latest event, e.g. why it paused (a child refused by a risk rule)
  tsNs @9 :Int64;            # when built, ns since UNIX epoch
  vtSymbol @10 :Text;
}

# -- flattenPosition (issue 17): close an account's position, one closing order per contract and side held. ----

enum Aggressiveness {
  passive @0;   # the closing order's own side of the book (a sell at the best ask, a buy at the best bid)
  touch @1;     # the opposite best (a sell at the best bid, a buy at the best ask)
  cross @2;     # ticks price ticks beyond the touch (a sell at bid - ticks x tick, a buy at ask + ticks x tick)
}

struct FlattenPosition {
  # Close what the account holds (one contract, or every contract held) with limit orders through the risk
  # rules and the journal like any order. Child client order ids are "<clientOrderId>.1", ".2" ... (so the
  # id is 1..60 bytes); on SHFE/INE a side held today and yesterday gets a closeToday and a closeYesterday order.
  clientOrderId @0 :Text;       # 1..60 bytes: the idempotency key of the flatten
  account @1 :Text;
  vtSymbol @2 :Text;            # "": every contract held
  aggressiveness @3 :Aggressiveness;
  ticks @4 :Float64;            # cross only: a whole number of price ticks >= 0 beyond the touch (NaN: malformed)
}

enum FlattenStatus {
  sent @0;          # closing orders were admitted (clientOrderIds; each is decided on its own: order events)
  nothingHeld @1;   # no position to close in the account (in vtSymbol)
  rejected @2;      # nothing sent: rejection says why (rule "flatten": no bid/ask, id too long ...)
}

struct FlattenReply {
  # The answer to a FlattenPosition: every retry with the same clientOrderId gets the same answer, sends nothing.
  clientOrderId @0 :Text;
  account @1 :Text;
  vtSymbol @2 :Text;
  status @3 :FlattenStatus;
  clientOrderIds @4 :List(Text);  # the closing orders, "<clientOrderId>.<n>"
  rejection @5 :Rejection;        # when status is rejected
}

@0x8030bbb872eae119;
# Accounts and risk. Routes: accounts/<account> → the owning trader's sessions
# every 1 s (AccountStatus, RiskSummary; NATS acct.status.1s.<trader> and
# acct.risk.1s.<trader> later); risk/<rule>/<account> → accounts/<account> →
# the trader's sessions (RiskEvent, LimitChanged, KillSwitchChanged; NATS
# risk.event.<account> later). All inside stream.capnp's ServerMessage.
# Append-only: never renumber, retype or remove.

using Orders = import "orders.capnp";

struct Position {
  vtSymbol @0 :Text;
  direction @1 :Orders.Direction;  # the side held: long or short
  volumeLots @2 :Float64;          # lots held
  avgPrice @3 :Float64;            # average open price, quote currency
  markPrice @4 :Float64;           # last price used for the mark, quote currency (NaN: no tick yet)
  realizedPnl @5 :Float64;         # today, quote currency
  unrealizedPnl @6 :Float64;       # at markPrice, quote currency
}

struct AccountStatus {
  account @0 :Text;                # strategy account, "acct-01"
  trader @1 :Text;                 # owning trader (JWT sub)
  tsNs @2 :Int64;                  # when built, ns since UNIX epoch
  balance @3 :Float64;             # this strategy account's: capital + realizedPnl + unrealizedPnl, quote currency
  available @4 :Float64;           # this strategy account's: balance - margin, quote currency
  margin @5 :Float64;              # this strategy account's positions: sum of price x multiplier x lots x margin ratio, quote currency
  realizedPnl @6 :Float64;         # today, from this account's trades, quote currency
  unrealizedPnl @7 :Float64;       # marked to market from ticks, quote currency
  positions @8 :List(Position);
  realAccounts @9 :List(Text);     # vn.py gateway names of the real accounts behind it
  openOrders @10 :UInt32;          # orders not yet final
  trades @11 :UInt32;              # distinct trades today (deduplicated by vt_tradeid)
  realBalance @12 :Float64;        # the REAL accounts' balance (gateway AccountData, summed), quote currency; shared by every strategy account on them; NaN: none yet
  realAvailable @13 :Float64;      # the real accounts' available funds, quote currency; NaN: none yet
  realMargin @14 :Float64;         # the real accounts' margin and frozen funds (realBalance - realAvailable), quote currency; NaN: none yet
}

enum Severity {
  info @0;
  warning @1;
  critical @2;
}

enum KillSwitchScope {
  account @0;
  group @1;                        # a contract group (exchange product), "rb"
  global @2;
}

enum KillSwitchState {
  active @0;                       # trading allowed
  reduceOnly @1;                   # only orders that reduce a position
  halted @2;                       # no new orders; open orders were cancelled
}

struct RuleStatus {
  rule @0 :Text;                   # "active_order"
  scope @1 :Text;                  # account id, or "global"
  limit @2 :Float64;               # main limit, the rule's unit; NaN: none
  observed @3 :Float64;            # current value, same unit; NaN: none
  healthy @4 :Bool;                # answered the last status request and not recovering
  rejections @5 :UInt64;           # orders it rejected since it started
}

struct RiskSummary {
  account @0 :Text;
  tsNs @1 :Int64;                  # ns since UNIX epoch
  killSwitch @2 :KillSwitchState;  # the account's own kill switch
  rules @3 :List(RuleStatus);
  rejections @4 :UInt64;           # orders of the account rejected by a risk rule in its journal (today; same after a restart)
  unknownOutcomes @5 :UInt32;      # orders in outcomeUnknown now
}

struct RiskEvent {
  rule @0 :Text;
  scope @1 :Text;                  # account id, group, or "global"
  severity @2 :Severity;
  observed @3 :Float64;            # the rule's unit; NaN: none
  limit @4 :Float64;               # the rule's unit; NaN: none
  message @5 :Text;
  account @6 :Text;
  clientOrderId @7 :Text;          # the order concerned; "" when none
  tsNs @8 :Int64;                  # ns since UNIX epoch
}

struct LimitChanged {
  rule @0 :Text;
  scope @1 :Text;                  # account id, or "global"
  name @2 :Text;                   # limit key, "limit", "per_contract"
  oldValue @3 :Float64;
  newValue @4 :Float64;
  changedBy @5 :Text;              # user from the admin token
  tsNs @6 :Int64;                  # ns since UNIX epoch
}

struct KillSwitchChanged {
  scope @0 :KillSwitchScope;
  target @1 :Text;                 # account id, group name, or "global"
  state @2 :KillSwitchState;
  previous @3 :KillSwitchState;
  changedBy @4 :Text;              # user, or the rule that tripped it ("daily_loss")
  reason @5 :Text;
  tsNs @6 :Int64;                  # ns since UNIX epoch
}

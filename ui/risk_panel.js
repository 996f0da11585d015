// Risk summary (slot "risk"): per account, from the riskSummary push (every
// 1 s, schemas/accounts.capnp RiskSummary): the account's kill switch, orders
// rejected and outcomes unknown, and each rule's limit against its observed
// value (rules near their limit first; a rule actor that did not answer is
// marked down). The kill switch says what it means ("trading allowed", "reduce-only",
// "halted"); trading hours show times ("09:00"), not HHMM numbers. Limits are changed by operators (POST /admin/limits); the next
// summary shows the new value.

import { KILL_SWITCH_LABELS, el, ruleLimit, ruleValue } from "./order_format.js";
import { registerPanel } from "./panels.js";

const SHORT_STATES = ["allowed", "reduce-only", "halted"]; // a kill switch rule's observed rank, in the table
const NEAR = 0.8; // observed / limit at or over this: the row is highlighted

class RiskPanel {
  constructor(element, desk) {
    this.summaries = new Map(); // account → RiskSummary
    this.empty = el("p", { className: "slot-empty", text: "no risk summary yet" });
    this.list = el("div", { className: "risk-summaries" });
    element.append(this.empty, this.list);
    desk.on("riskSummary", (summary) => this.update(summary));
    desk.onSession((session) => {
      if (session.signedIn !== false) return;
      this.summaries.clear();
      this.list.replaceChildren();
      this.empty.hidden = false;
    });
  }

  update(summary) {
    this.summaries.set(summary.account, summary);
    this.empty.hidden = true;
    const accounts = [...this.summaries.keys()].sort();
    this.list.replaceChildren(...accounts.map((account) => this.card(this.summaries.get(account))));
  }

  card(summary) {
    const head = el("header", { className: "risk-head" },
      el("b", { text: summary.account }),
      el("span", { className: "kill-switch", data: { state: summary.killSwitch },
        title: `kill switch: ${summary.killSwitch}`, text: KILL_SWITCH_LABELS[summary.killSwitch] ?? summary.killSwitch }),
      el("span", { className: "account-meta", text: `${summary.rejections} rejected` }),
      el("span", { className: summary.unknownOutcomes > 0 ? "account-meta warn" : "account-meta",
        text: `${summary.unknownOutcomes} unknown` }));
    const rules = [...(summary.rules ?? [])].sort((a, b) => usage(b) - usage(a) || a.rule.localeCompare(b.rule));
    const rows = rules.map((rule) => el("tr", {
      className: !rule.healthy ? "down" : usage(rule) >= NEAR ? "near" : "",
      data: { rule: rule.rule }, title: `${rule.rule} (${rule.scope}): ${rule.rejections} rejected since start` },
    el("td", { text: rule.scope === summary.account ? rule.rule : `${rule.rule} (${rule.scope})` }),
    el("td", { className: "num", text: rule.rule === "kill_switch" ? SHORT_STATES[Math.round(rule.observed)] ?? ruleValue(rule.rule, rule.observed)
      : ruleValue(rule.rule, rule.observed) }),
    el("td", { className: "num", text: rule.rule === "kill_switch" ? "" : ruleLimit(rule.rule, rule.limit),
      title: rule.rule === "trading_hours" ? "the first trading window opens (exchange time)" : "" }),
    el("td", { text: rule.healthy ? "" : "down" })));
    const table = el("table", { className: "rules" },
      el("thead", {}, el("tr", {}, ...["Rule", "Observed", "Limit", ""].map((title) => el("th", { text: title })))),
      el("tbody", {}, ...rows));
    return el("article", { className: "risk-card", data: { account: summary.account } }, head, table);
  }
}

// observed / limit, 0 when either is missing.
function usage(rule) {
  // the venue rule is a switch: "near" only when it is on and its gateway is not ready (observed 0), not at 1 / 1
  if (rule.rule === "venue") return rule.limit > 0 && !(rule.observed >= 1) ? 1 : 0;
  return Number.isFinite(rule.observed) && Number.isFinite(rule.limit) && rule.limit > 0 ? rule.observed / rule.limit : 0;
}

registerPanel("risk", (element, desk) => new RiskPanel(element, desk));

// Risk alerts (slot "alerts"): riskEvent (a rejection, a breach, a rule actor
// down: rule, scope, severity, observed, limit, message), killSwitchChanged
// and limitChanged, newest first, at most MAX_ALERTS. A kill switch that is not
// active stays in a banner above the list until it is active again.

import { KILL_SWITCH_LABELS, clockOfNs, el, ruleLimit, ruleValue } from "./order_format.js";
import { registerPanel } from "./panels.js";

export const MAX_ALERTS = 200;

class RiskAlerts {
  constructor(element, desk) {
    this.switches = new Map(); // "scope target" → KillSwitchChanged, while not active
    this.banner = el("div", { className: "kill-banner" });
    this.empty = el("p", { className: "slot-empty", text: "no alerts" });
    this.list = el("ol", { className: "alerts", attrs: { "aria-live": "polite" } });
    element.append(this.banner, this.empty, this.list);
    desk.on("riskEvent", (event) => this.add(this.riskEvent(event)));
    desk.on("killSwitchChanged", (change) => this.killSwitch(change));
    desk.on("limitChanged", (change) => this.add(el("li", { className: "alert", data: { severity: "info", rule: change.rule } },
      el("span", { className: "alert-time", text: clockOfNs(change.tsNs) }),
      el("b", { text: `${change.rule} ${change.name}` }),
      el("span", { text: ` ${change.scope}: ${ruleLimit(change.rule, change.oldValue)} → ${ruleLimit(change.rule, change.newValue)} by ${change.changedBy}` }))));
    desk.onSession((session) => {
      if (session.signedIn !== false) return;
      this.switches.clear();
      this.list.replaceChildren();
      this.renderBanner();
      this.empty.hidden = false;
    });
  }

  riskEvent(event) {
    const numbers = [];
    if (event.rule !== "kill_switch") {
      if (Number.isFinite(event.observed)) numbers.push(`observed ${ruleValue(event.rule, event.observed)}`);
      if (Number.isFinite(event.limit)) numbers.push(`limit ${ruleLimit(event.rule, event.limit)}`);
    }
    return el("li", { className: "alert", data: { severity: event.severity, rule: event.rule, account: event.account },
      title: event.clientOrderId ? `order ${event.clientOrderId}` : "" },
    el("span", { className: "alert-time", text: clockOfNs(event.tsNs) }),
    el("span", { className: "alert-severity", text: event.severity }),
    el("b", { text: event.rule }),
    el("span", { className: "alert-scope", text: ` ${event.scope}` }),
    numbers.length ? el("span", { className: "alert-numbers", text: ` ${numbers.join(" / ")}` }) : null,
    el("div", { className: "alert-message", text: event.message }));
  }

  killSwitch(change) {
    const key = `${change.scope} ${change.target}`;
    if (change.state === "active") this.switches.delete(key);
    else this.switches.set(key, change);
    this.renderBanner();
    const severity = change.state === "halted" ? "critical" : change.state === "reduceOnly" ? "warning" : "info";
    this.add(el("li", { className: "alert", data: { severity, rule: "kill_switch", killSwitch: change.state } },
      el("span", { className: "alert-time", text: clockOfNs(change.tsNs) }),
      el("span", { className: "alert-severity", text: severity }),
      el("b", { text: `kill switch: ${KILL_SWITCH_LABELS[change.state] ?? change.state}` }),
      el("span", { className: "alert-scope", text: ` ${change.scope} ${change.target} (was ${KILL_SWITCH_LABELS[change.previous] ?? change.previous}) by ${change.changedBy} at ${clockOfNs(change.tsNs)}` }),
      change.reason ? el("div", { className: "alert-message", text: change.reason }) : null));
  }

  renderBanner() {
    this.banner.replaceChildren(...[...this.switches.values()].map((change) => el("div", {
      className: "kill-banner-item", data: { state: change.state },
      text: `${change.state === "halted" ? "HALTED" : "REDUCE-ONLY"}: ${change.scope} ${change.target} by ${change.changedBy} at ${clockOfNs(change.tsNs)}${change.reason ? ` — ${change.reason}` : ""}`,
    })));
  }

  add(item) {
    this.empty.hidden = true;
    this.list.prepend(item);
    while (this.list.childElementCount > MAX_ALERTS) this.list.lastElementChild.remove();
  }
}

registerPanel("alerts", (element, desk) => new RiskAlerts(element, desk));

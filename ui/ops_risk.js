// The ops console's risk controls (issue 17): kill switches and risk limits, changed by an admin
// with a confirmation, through the admin API (GET/POST /admin/limits, POST /admin/kill-switch:
// transport/admin/risk_admin.py, which audits each change with its old and new values).
//
// Kill switches: the global one, one per account, and any group switch set so far (or typed in):
// each row says what its state means ("trading allowed", "reduce-only", "halted"), who set it,
// when and why, and offers the other states. Limits: every rule instance's limits in one table
// (time windows shown as times); Edit fills the form below it, which asks before it sends.

import { KILL_SWITCH_LABELS, ruleValue } from "./order_format.js";

const STATES = ["active", "reduceOnly", "halted"];
const ACTIONS = { active: "Allow trading", reduceOnly: "Reduce-only", halted: "Halt" };

// api(method, route, body) → {status, data}; toast(text, ok); confirm(text) → boolean.
export class RiskControls {
  constructor(section, { api, toast, confirm = (text) => window.confirm(text), onChange = () => {} }) {
    this.api = api;
    this.toast = toast;
    this.confirm = confirm;
    this.onChange = onChange;
    this.data = null;
    this.section = section;
    section.innerHTML = `
      <div class="ops-head"><h2>Kill switches</h2></div>
      <label class="risk-reason">Reason <input id="kill-reason" placeholder="why (kept in the journal, shown to traders)" maxlength="200"></label>
      <table id="kill-switches" class="ops-table" aria-label="kill switches">
        <thead><tr><th>scope</th><th>target</th><th>state</th><th>set by</th><th></th></tr></thead><tbody></tbody>
      </table>
      <form id="group-switch" class="risk-form" autocomplete="off">
        <input name="group" placeholder="group, e.g. rb" aria-label="group to switch" maxlength="64" required>
        <select name="state" aria-label="state for the group">${STATES.map((s) => `<option value="${s}">${KILL_SWITCH_LABELS[s]}</option>`).join("")}</select>
        <button type="submit">Set group switch</button>
      </form>
      <div class="ops-head"><h2>Risk limits</h2></div>
      <form id="limit-form" class="risk-form" autocomplete="off">
        <select name="rule" aria-label="rule"></select>
        <select name="scope" aria-label="scope"></select>
        <select name="name" aria-label="limit"></select>
        <span class="limit-current" aria-live="polite"></span>
        <input name="value" type="number" step="any" min="0" aria-label="new value" required>
        <button type="submit">Change limit</button>
      </form>
      <table id="limits" class="ops-table" aria-label="risk limits">
        <thead><tr><th>rule</th><th>scope</th><th>limit</th><th class="num">value</th><th></th></tr></thead><tbody></tbody>
      </table>`;
    this.form = section.querySelector("#limit-form");
    for (const name of ["rule", "scope"]) this.form.elements[name].addEventListener("change", () => this.renderForm());
    this.form.elements.name.addEventListener("change", () => this.renderCurrent());
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.changeLimit();
    });
    section.querySelector("#group-switch").addEventListener("submit", (event) => {
      event.preventDefault();
      const form = event.target;
      this.setSwitch("group", form.elements.group.value.trim(), form.elements.state.value);
    });
  }

  async refresh() {
    const { status, data } = await this.api("GET", "./admin/limits");
    if (status !== 200) return;
    this.data = data;
    this.renderSwitches();
    this.renderLimits();
    this.renderForm();
  }

  switchRows() {
    const set = new Map((this.data.kill_switches ?? []).map((row) => [`${row.scope} ${row.target}`, row]));
    const rows = [{ scope: "global", target: "global" }, ...(this.data.accounts ?? []).map((account) => ({ scope: "account", target: account })),
      ...(this.data.kill_switches ?? []).filter((row) => row.scope === "group")];
    const seen = new Set();
    return rows.filter((row) => !seen.has(`${row.scope} ${row.target}`) && seen.add(`${row.scope} ${row.target}`))
      .map((row) => set.get(`${row.scope} ${row.target}`) ?? { ...row, state: "active" });
  }

  renderSwitches() {
    const body = this.section.querySelector("#kill-switches tbody");
    body.replaceChildren(...this.switchRows().map((row) => {
      const tr = document.createElement("tr");
      tr.dataset.scope = row.scope;
      tr.dataset.target = row.target;
      tr.dataset.state = row.state;
      const state = cell("", "");
      const badge = document.createElement("span");
      badge.className = "kill-switch";
      badge.dataset.state = row.state;
      badge.textContent = KILL_SWITCH_LABELS[row.state] ?? row.state;
      state.append(badge);
      const by = row.changed_by ? `${row.changed_by} at ${utc(row.ts_ns)}${row.reason ? ` — ${row.reason}` : ""}` : "";
      const actions = cell("actions", "");
      for (const next of STATES.filter((item) => item !== row.state)) {
        const button = document.createElement("button");
        button.type = "button";
        button.dataset.state = next;
        button.textContent = ACTIONS[next];
        button.setAttribute("aria-label", `${ACTIONS[next]}: ${row.scope} ${row.target}`);
        button.addEventListener("click", () => this.setSwitch(row.scope, row.target, next));
        actions.append(button);
      }
      tr.append(cell("", row.scope), cell("", row.target), state, cell("by", by), actions);
      return tr;
    }));
  }

  async setSwitch(scope, target, state) {
    if (!target) {
      this.toast("name the group to switch", false);
      return;
    }
    const reason = this.section.querySelector("#kill-reason").value.trim();
    const what = `${scope} ${target}: ${KILL_SWITCH_LABELS[state]}?`
      + (state === "halted" ? " Its open orders are cancelled and no order is accepted." : "");
    if (!this.confirm(`Set the kill switch of ${what}`)) return;
    const { status, data } = await this.api("POST", "./admin/kill-switch", { scope, target, state, reason });
    this.toast(status === 202 ? `kill switch ${scope} ${target}: ${KILL_SWITCH_LABELS[data.previous] ?? data.previous} → ${KILL_SWITCH_LABELS[state]}`
      : `kill switch refused: ${data.error ?? data.message ?? `HTTP ${status}`}`, status === 202);
    await waitFor(() => this.refresh().then(() => this.switchRows().some((row) => row.scope === scope
      && row.target === (scope === "global" ? "global" : target) && row.state === state)));
    this.onChange();
  }

  limitRows() {
    const rows = [];
    for (const [rule, scopes] of Object.entries(this.data?.limits ?? {}).sort()) {
      for (const [scope, limits] of Object.entries(scopes).sort()) {
        for (const [name, value] of Object.entries(limits).sort()) rows.push({ rule, scope, name, value });
      }
    }
    return rows;
  }

  renderLimits() {
    const body = this.section.querySelector("#limits tbody");
    body.replaceChildren(...this.limitRows().map(({ rule, scope, name, value }) => {
      const tr = document.createElement("tr");
      tr.dataset.limit = `${rule}/${scope}.${name}`;
      const edit = document.createElement("button");
      edit.type = "button";
      edit.textContent = "Edit";
      edit.setAttribute("aria-label", `edit ${rule} ${scope} ${name}`);
      edit.addEventListener("click", () => {
        this.form.elements.rule.value = rule;
        this.renderForm();
        this.form.elements.scope.value = scope;
        this.renderForm();
        this.form.elements.name.value = name;
        this.renderCurrent();
        this.form.elements.value.focus();
      });
      const actions = cell("actions", "");
      actions.append(edit);
      tr.append(cell("", rule), cell("", scope), cell("", name), cell("num", limitText(rule, name, value)), actions);
      return tr;
    }));
  }

  // The form's selects follow each other: rule → its scopes → that instance's limit names.
  renderForm() {
    const limits = this.data?.limits ?? {};
    const { rule, scope, name } = this.form.elements;
    fill(rule, Object.keys(limits).sort());
    fill(scope, Object.keys(limits[rule.value] ?? {}).sort());
    fill(name, Object.keys(limits[rule.value]?.[scope.value] ?? {}).sort());
    this.renderCurrent();
  }

  renderCurrent() {
    const { rule, scope, name } = this.form.elements;
    const value = this.data?.limits?.[rule.value]?.[scope.value]?.[name.value];
    this.form.querySelector(".limit-current").textContent = value === undefined ? "" : `now ${limitText(rule.value, name.value, value)}`;
  }

  async changeLimit() {
    const { rule, scope, name, value } = this.form.elements;
    const old = this.data?.limits?.[rule.value]?.[scope.value]?.[name.value];
    const next = Number(value.value);
    if (!this.confirm(`Change ${rule.value} ${name.value} of ${scope.value} from ${limitText(rule.value, name.value, old)} `
      + `to ${limitText(rule.value, name.value, next)}?`)) return;
    const { status, data } = await this.api("POST", "./admin/limits",
      { rule: rule.value, scope: scope.value, name: name.value, value: next });
    this.toast(status === 200 ? `${rule.value} ${name.value} (${scope.value}): ${data.change.old_value} → ${data.change.new_value}`
      : `limit refused: ${data.error ?? `HTTP ${status}`}`, status === 200);
    await this.refresh();
    this.onChange();
  }
}

// A limit's value as the rule means it: trading hours' window edges as times, -1 as "unused".
function limitText(rule, name, value) {
  if (value === null || value === undefined) return "–";
  if (rule === "trading_hours" && /^window_\d+_(open|close)$/.test(name)) return value < 0 ? "unused" : ruleValue(rule, value);
  if (rule === "trading_hours" && name === "product_sessions") return value ? "each product's sessions" : "the windows below";
  return ruleValue("", value);
}

function fill(select, values) {
  const current = select.value;
  if ([...select.options].map((o) => o.value).join("\u0000") !== values.join("\u0000")) {
    select.replaceChildren(...values.map((value) => {
      const option = document.createElement("option");
      option.value = value;
      option.textContent = value;
      return option;
    }));
  }
  if (values.includes(current)) select.value = current;
}

function cell(className, text) {
  const td = document.createElement("td");
  td.className = className;
  td.textContent = text;
  return td;
}

function utc(tsNs) {
  return tsNs ? `${new Date(Number(tsNs) / 1e6).toISOString().slice(0, 19).replace("T", " ")} UTC` : "";
}

// A kill switch is set by its actor a moment after the 202: refresh until `done()` holds (at most ~3 s).
async function waitFor(done) {
  for (let i = 0; i < 15; i++) {
    if (await done()) return;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

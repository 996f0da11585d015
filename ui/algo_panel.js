// Algo panel (slot "algo"): start vn.py algos (vnpy_algotrading templates run by the desk; every child order goes
// through the desk's risk rules and journal) and follow them. startAlgo carries a jobId this tab chooses (sent
// again unchanged on a retry: the desk treats it idempotently); algoProgress (every 1 s per job, to the traders of
// its account) draws one row per job: a progress bar of tradedLots / volumeLots, the status, the average price,
// the open child orders, the latest message (why it paused), and pause / resume / stop buttons.
// The start form is a dialog ("New algo…", prefilled with the contract selected in a watchlist): the slot
// itself keeps the room for the jobs a trader follows.

import { el, tradableAccounts } from "./order_format.js";
import { registerPanel } from "./panels.js";

export const TEMPLATES = Object.freeze({
  TwapAlgo: [["time", "600"], ["interval", "60"]],
  IcebergAlgo: [["display_volume", "10"], ["interval", "60"]],
  SniperAlgo: [],
  StopAlgo: [["price_add", "0"]],
  BestLimitAlgo: [["min_volume", "0"], ["max_volume", "0"], ["volume_change", "0"]],
});

class AlgoPanel {
  constructor(element, desk) {
    this.desk = desk;
    this.jobs = new Map(); // jobId → {row, bar, text, progress}
    this.seenAccounts = new Set();
    this.form = el("form", { className: "algo-form", attrs: { "aria-label": "start an algo", method: "dialog" } });
    this.form.innerHTML = `
      <label>Account<select name="algoAccount" required></select></label>
      <label>Template<select name="algoTemplate">${Object.keys(TEMPLATES).map((t) => `<option>${t}</option>`).join("")}</select></label>
      <label>Contract<input name="algoSymbol" placeholder="rb1801.SHFE" required></label>
      <label>Side<select name="algoDirection"><option value="long">buy</option><option value="short">sell</option></select></label>
      <label>Offset<select name="algoOffset"><option value="open">open</option><option value="close">close</option></select></label>
      <label>Price<input name="algoPrice" type="number" step="any" required></label>
      <label>Lots<input name="algoLots" type="number" step="1" min="1" required></label>
      <label>Settings<input name="algoSettings" placeholder="time=600 interval=60"></label>
      <div class="dialog-buttons"><button type="button" class="algo-cancel">Cancel</button>
      <button type="submit" class="algo-start">Start algo</button></div>`;
    this.dialog = el("dialog", { className: "algo-dialog", attrs: { "aria-label": "new algo" } },
      el("h2", { text: "New algo" }), this.form);
    document.body.append(this.dialog);
    const open = el("button", { className: "algo-new", text: "New algo…", attrs: { type: "button" } });
    open.addEventListener("click", () => this.open());
    this.form.querySelector(".algo-cancel").addEventListener("click", () => this.dialog.close());
    this.result = el("output", { className: "algo-result", attrs: { name: "algoResult", "aria-live": "polite" } });
    this.empty = el("p", { className: "slot-empty", text: "no running algos" });
    this.list = el("ol", { className: "algo-jobs", attrs: { "aria-live": "polite" } });
    element.replaceChildren(el("div", { className: "algo-bar" }, open, this.result), this.empty, this.list);
    this.selected = "";
    document.addEventListener("tickstage:selected", (event) => { this.selected = event.detail?.vtSymbol ?? ""; });
    const f = this.form.elements;
    f.algoTemplate.addEventListener("change", () => { f.algoSettings.value = this.defaultSettings(); });
    f.algoSettings.value = this.defaultSettings();
    this.form.addEventListener("submit", (event) => { event.preventDefault(); this.dialog.close(); this.start(); });
    desk.on("algoProgress", (progress) => this.update(progress));
    desk.on("accountStatus", (status) => {
      if (this.seenAccounts.has(status.account)) return;
      this.seenAccounts.add(status.account);
      this.renderAccounts();
    });
    desk.onSession(() => this.renderAccounts());
    this.renderAccounts();
  }

  // Show the start form, the contract prefilled from the selected watchlist row when the field is empty.
  open() {
    const symbol = this.form.elements.algoSymbol;
    if (!symbol.value && this.selected) symbol.value = this.selected;
    this.dialog.showModal();
    (symbol.value ? this.form.elements.algoPrice : symbol).focus();
  }

  defaultSettings() {
    return TEMPLATES[this.form.elements.algoTemplate.value].map(([k, v]) => `${k}=${v}`).join(" ");
  }

  renderAccounts() {
    const select = this.form.elements.algoAccount;
    const accounts = tradableAccounts(this.desk.session(), [...this.seenAccounts]);
    const current = select.value;
    select.replaceChildren(...accounts.map((account) => el("option", { text: account, attrs: { value: account } })));
    if (accounts.includes(current)) select.value = current;
  }

  async start() {
    const f = this.form.elements;
    const settings = f.algoSettings.value.trim().split(/\s+/).filter(Boolean).map((pair) => {
      const [key, ...rest] = pair.split("=");
      return { key, value: rest.join("=") };
    });
    const body = {
      jobId: `${this.desk.session().user || "job"}-${Date.now().toString(36)}`,
      account: f.algoAccount.value, template: f.algoTemplate.value, vtSymbol: f.algoSymbol.value.trim(),
      direction: f.algoDirection.value, offset: f.algoOffset.value, price: Number(f.algoPrice.value),
      volumeLots: Number(f.algoLots.value), settings,
    };
    this.result.value = "starting…";
    const reply = await this.desk.send("startAlgo", body);
    this.result.value = reply.member === "ack" ? `started ${reply.body.detail}` : `refused: ${reply.body.message}`;
  }

  async control(member, progress) {
    const reply = await this.desk.send(member, { jobId: progress.jobId, account: progress.account });
    if (reply.member === "error") this.result.value = `${member} refused: ${reply.body.message}`;
  }

  update(progress) {
    let job = this.jobs.get(progress.jobId);
    if (!job) {
      const bar = el("progress", { attrs: { max: "1", value: "0" } });
      const text = el("span", { className: "algo-text" });
      const buttons = ["pauseAlgo", "resumeAlgo", "stopAlgo"].map((member) => {
        const button = el("button", { text: member.replace("Algo", ""), attrs: { type: "button" }, data: { action: member } });
        button.addEventListener("click", () => this.control(member, job.progress));
        return button;
      });
      const row = el("li", { className: "algo-job", data: { job: progress.jobId } },
        el("b", { text: `${progress.jobId} ` }), bar, text, ...buttons);
      job = { row, bar, text, buttons, progress };
      this.jobs.set(progress.jobId, job);
      this.list.prepend(row);
      this.empty.hidden = true;
    }
    job.progress = progress;
    job.row.dataset.status = progress.status;
    job.bar.max = progress.volumeLots || 1;
    job.bar.value = progress.tradedLots;
    const avg = Number.isFinite(progress.avgPrice) ? ` @ ${progress.avgPrice}` : "";
    job.text.textContent = ` ${progress.template} ${progress.vtSymbol} ${progress.account} ${progress.status} ` +
      `${progress.tradedLots}/${progress.volumeLots}${avg}, ${progress.openChildren} open — ${progress.message}`;
    const ended = progress.status === "stopped" || progress.status === "finished";
    for (const button of job.buttons) {
      const action = button.dataset.action;
      button.disabled = ended || (action === "pauseAlgo" && progress.status !== "running")
        || (action === "resumeAlgo" && progress.status !== "paused");
    }
  }
}

registerPanel("algo", (element, desk) => new AlgoPanel(element, desk));

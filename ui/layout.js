// The user's layouts and desk settings, kept on the server per user (GET/PUT /api/prefs,
// transport/process/prefs_api.py): they survive a closed browser and follow the user to
// another machine. A layout is
//
//   {version: 1, groups: ["rb", "m_o"],            watchlist panels, in their order
//    views: {rb: {sort, filter, columns, chain}},   each panel's view (ui/watchlist.js getView)
//    collapsed: ["algo"]}                           desk slots folded to their title
//
// The settings ("settings/desk") are {layout: "<active layout name>", hotkeys: {action: key},
// confirm: {action: bool}, lots: default size, crossTicks: ticks the buy/sell keys cross the touch
// by}. The active layout is saved SAVE_DELAY_MS after each change; named layouts are saved, switched and reset from the sidebar (ui/app.js).

export const LAYOUT_VERSION = 1;
export const DEFAULT_LAYOUT_NAME = "default";
const SAVE_DELAY_MS = 400;

export function emptyLayout() {
  return { version: LAYOUT_VERSION, groups: [], views: {}, collapsed: [] };
}

// A layout read from the server, checked: anything malformed becomes the empty layout's value.
export function cleanLayout(value) {
  const layout = emptyLayout();
  if (!value || typeof value !== "object") return layout;
  if (Array.isArray(value.groups)) layout.groups = [...new Set(value.groups.filter((g) => typeof g === "string"))];
  if (value.views && typeof value.views === "object") {
    for (const [group, view] of Object.entries(value.views)) if (view && typeof view === "object") layout.views[group] = view;
  }
  if (Array.isArray(value.collapsed)) layout.collapsed = value.collapsed.filter((slot) => typeof slot === "string");
  return layout;
}

export class PrefsClient {
  // token(): the current access token (or null: nothing is sent).
  constructor(token) {
    this.token = token;
    this.base = new URL("./api/prefs", location.href).href;
  }

  async request(method, path, body) {
    const token = this.token();
    if (!token) return { status: 0, body: null };
    const options = { method, headers: { Authorization: `Bearer ${token}` } };
    if (body !== undefined) {
      options.body = JSON.stringify(body);
      options.headers["Content-Type"] = "application/json";
    }
    try {
      const response = await fetch(`${this.base}${path}`, options);
      return { status: response.status, body: await response.json().catch(() => null) };
    } catch (error) {
      return { status: 0, body: { message: error.message } };
    }
  }

  document() {
    return this.request("GET", "");
  }

  put(kind, name, value) {
    return this.request("PUT", `/${kind}/${encodeURIComponent(name)}`, value);
  }

  remove(kind, name) {
    return this.request("DELETE", `/${kind}/${encodeURIComponent(name)}`);
  }
}

// The active layout and the settings of the signed-in user; capture() reads the page's state.
export class Layouts {
  // capture(): the page's layout now; onError(text): a save that failed.
  constructor({ prefs, capture, onError = () => {} }) {
    this.prefs = prefs;
    this.capture = capture;
    this.onError = onError;
    this.name = DEFAULT_LAYOUT_NAME;
    this.names = [];
    this.settings = {};
    this.loaded = false; // the user's document was read
    this.track = false; // this tab shows the active layout: its changes are saved
    this.timer = null;
    this.saves = 0;
    this.watchlists = {}; // the user's named watchlists as loaded (ui/named_lists.js)
  }

  // Read the user's document; return the active layout (the empty one when none was saved).
  async load() {
    const { status, body } = await this.prefs.document();
    this.loaded = true;
    if (status !== 200 || !body) return emptyLayout();
    this.settings = body.settings?.desk ?? {};
    this.layouts = body.layouts ?? {};
    this.watchlists = body.watchlists ?? {};
    this.names = Object.keys(this.layouts).sort();
    this.name = typeof this.settings.layout === "string" && this.layouts[this.settings.layout]
      ? this.settings.layout : DEFAULT_LAYOUT_NAME;
    return cleanLayout(this.layouts[this.name]);
  }

  // The page changed: save the active layout soon (one PUT for a burst of changes).
  changed() {
    if (!this.loaded || !this.track) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.saveNow(), SAVE_DELAY_MS);
  }

  async saveNow(name = this.name) {
    clearTimeout(this.timer);
    this.timer = null;
    const layout = this.capture();
    const { status, body } = await this.prefs.put("layouts", name, layout);
    if (status !== 200) {
      this.onError(`layout not saved: ${body?.message ?? `HTTP ${status}`}`);
      return false;
    }
    this.saves += 1;
    this.layouts = { ...(this.layouts ?? {}), [name]: layout };
    if (!this.names.includes(name)) this.names = [...this.names, name].sort();
    return true;
  }

  // Make `name` the active layout (saved in the settings); return its layout.
  async use(name) {
    this.name = name;
    await this.saveSettings({ layout: name });
    return cleanLayout(this.layouts?.[name]);
  }

  async saveSettings(change) {
    this.settings = { ...this.settings, ...change };
    const { status, body } = await this.prefs.put("settings", "desk", this.settings);
    if (status !== 200) this.onError(`settings not saved: ${body?.message ?? `HTTP ${status}`}`);
    return status === 200;
  }

  // Pending save now (sign-out, page hide).
  flush() {
    if (this.timer !== null) this.saveNow();
  }

  reset() {
    clearTimeout(this.timer);
    this.timer = null;
    this.loaded = false;
    this.track = false;
    this.names = [];
    this.layouts = {};
    this.watchlists = {};
    this.settings = {};
    this.name = DEFAULT_LAYOUT_NAME;
  }
}

// A user's named watchlists (issue 17): several lists of contracts, each with a name, kept on the
// server per user (PUT /api/prefs/watchlists/<name> {symbols: [vt_symbol ...]}, ui/layout.js).
//
// The desk streams one watchlist group per user (watch-<user>, ui/watchlist_edit.js); a named list
// is a view of it: the group holds every contract of every list, and the group's panel shows the
// list chosen in its head (view.list; "all" shows the whole group). The stars follow the active
// list: with a list chosen, a star adds the contract to that list (and to the group when it is new
// there) or takes it out (and out of the group once no list holds it); with none, a star edits the
// group itself, as before named lists.

export const MAX_LISTS = 32; // as the server's bound on items of one kind (transport/process/prefs_store.py)

export class NamedLists {
  // prefs: ui/layout.js PrefsClient; editor: WatchlistEditor (the group); onChange(): repaint;
  // onError(text): a save that failed.
  constructor({ prefs, editor, onChange = () => {}, onError = () => {} }) {
    this.prefs = prefs;
    this.editor = editor;
    this.onChange = onChange;
    this.onError = onError;
    this.lists = new Map(); // name → Set(vtSymbol)
    this.active = null; // the list the stars edit, or null: the group
    this.touched = new Set(); // names made, changed or deleted in this page since sign-in
  }

  // The user's watchlists from the prefs document ({name: {symbols}}). A list this page made, changed or
  // deleted keeps this page's version: the document may have been read before that edit's save landed
  // (a sign-in's read answered late, or read again), and the page's edit is the newer one (each is saved).
  load(watchlists = {}) {
    const local = this.lists;
    this.lists = new Map(Object.entries(watchlists)
      .filter(([, value]) => Array.isArray(value?.symbols))
      .map(([name, value]) => [name, new Set(value.symbols.filter((s) => typeof s === "string"))]));
    for (const name of this.touched) {
      if (local.has(name)) this.lists.set(name, local.get(name));
      else this.lists.delete(name);
    }
    if (this.active !== null && !this.lists.has(this.active)) this.active = null;
    this.onChange();
  }

  names() {
    return [...this.lists.keys()].sort();
  }

  symbolsOf(name) {
    return this.lists.get(name) ?? null;
  }

  use(name) {
    this.active = name && this.lists.has(name) ? name : null;
    this.onChange();
  }

  has(vtSymbol) {
    return this.active === null ? this.editor.has(vtSymbol) : this.lists.get(this.active).has(vtSymbol);
  }

  toggle(vtSymbol) {
    if (this.active === null) {
      this.editor.toggle(vtSymbol);
      return;
    }
    const list = this.lists.get(this.active);
    this.touched.add(this.active);
    const adding = !list.has(vtSymbol);
    if (adding) list.add(vtSymbol);
    else list.delete(vtSymbol);
    const elsewhere = [...this.lists.values()].some((other) => other.has(vtSymbol));
    if (adding && !this.editor.has(vtSymbol)) this.editor.toggle(vtSymbol);
    if (!adding && !elsewhere && this.editor.has(vtSymbol)) this.editor.toggle(vtSymbol);
    this.onChange();
    this.save(this.active);
  }

  // A new empty list, made the active one; false when the name is taken or too many lists exist.
  async create(name) {
    if (this.lists.has(name)) return false;
    if (this.lists.size >= MAX_LISTS) {
      this.onError(`at most ${MAX_LISTS} watchlists: delete one first`);
      return false;
    }
    this.lists.set(name, new Set());
    this.touched.add(name);
    if (!(await this.save(name))) {
      this.lists.delete(name);
      return false;
    }
    this.use(name);
    return true;
  }

  async remove(name) {
    if (!this.lists.delete(name)) return;
    this.touched.add(name);
    if (this.active === name) this.active = null;
    await this.prefs.remove("watchlists", name);
    this.onChange();
  }

  async save(name) {
    const list = this.lists.get(name);
    if (!list) return false;
    const { status, body } = await this.prefs.put("watchlists", name, { symbols: [...list].sort() });
    if (status !== 200) this.onError(`watchlist ${name} not saved: ${body?.message ?? `HTTP ${status}`}`);
    return status === 200;
  }

  reset() {
    this.lists = new Map();
    this.active = null;
    this.touched = new Set();
  }
}

// Latency per hop (issue 14): what each hop of a tick's way to the screen takes, and
// across which clocks. A frame's newest tick carries its exchange time (the exchange's
// clock) and its venue receive time (the desk's vn.py bridge); the frame carries when
// it was built and the exchange's clock skew the desk measured (venue receive −
// exchange time, a rolling minimum: GroupFrame.exchangeSkewNs); the worker stamps
// when it decoded the frame and the tab when it painted it (the browser's clock).
//
// Hops between two clocks are corrected and labelled (cross: true):
// - exchange → venue: recv − exch − skew, so the skew (a replay's stamps are years
//   old; the simulator's clock_skew fault shifts them) is shown apart, never hidden;
// - desk → browser: the browser's offset to the desk's clock from ping/pong
//   (ClockOffset: server stamp − midpoint of send and receive, from the exchange of
//   least round trip, as NTP's clock filter; its error is at most half that round trip).
// The built → sent hop is the socket's own, measured by the desk (a frame is encoded
// once for every socket) and reported in each pong (Pong.socketSend).
//
// Pure functions and small classes only (no DOM, no timers): node tests drive them.

// Hop key → HUD label, the clocks it spans, whether it crosses two clocks.
export const HOPS = Object.freeze([
  { key: "exchange_venue", label: "EXCH→VENUE", clocks: "exchange → desk clock, corrected by the exchange's clock skew", cross: true },
  { key: "venue_built", label: "VENUE→BUILT", clocks: "desk clock (the 33 ms conflation window)", cross: false },
  { key: "built_sent", label: "BUILT→SENT", clocks: "desk clock: frame built → written to this socket (the desk's figures, from each pong)", cross: false },
  { key: "built_decoded", label: "BUILT→DECODED", clocks: "desk → browser clock, corrected by the ping/pong offset", cross: true },
  { key: "decoded_painted", label: "DECODED→PAINTED", clocks: "browser clock: worker decoded → the animation frame that painted it", cross: false },
  { key: "tick_painted", label: "TICK→PAINT", clocks: "end to end: venue receive → painted, desk → browser clock, corrected by the ping/pong offset", cross: true },
]);
export const HOP_KEYS = Object.freeze(HOPS.map((hop) => hop.key));
export const WORKER_HOPS = Object.freeze(["exchange_venue", "venue_built", "built_decoded"]); // measured per frame in the worker
export const OFFSET_WINDOW = 8; // ping/pong exchanges the offset is chosen among

// Int64 ns (BigInt or Number) → ms since epoch as a Number (sub-µs precision is not kept).
export function nsToMs(ns) {
  return typeof ns === "bigint" ? Number(ns / 1000n) / 1000 : Number(ns) / 1e6;
}

// One frame's worker-side hop samples (ms) from its newest tick; a hop without its stamps is NaN.
// stamps: {exchangeMs, venueMs, skewMs (0: not measured), builtMs, decodedMs (browser clock), offsetMs (desk − browser)}.
export function frameHops({ exchangeMs, venueMs, skewMs, builtMs, decodedMs, offsetMs = 0 }) {
  const known = (value) => Number.isFinite(value) && value !== 0;
  return {
    exchange_venue: known(exchangeMs) && known(venueMs) && known(skewMs) ? venueMs - exchangeMs - skewMs : NaN,
    venue_built: known(venueMs) && known(builtMs) ? builtMs - venueMs : NaN,
    built_decoded: known(builtMs) && Number.isFinite(decodedMs) ? decodedMs + offsetMs - builtMs : NaN,
  };
}

// The browser's offset to the desk's clock (ms: add it to a browser time to read the desk's).
export class ClockOffset {
  constructor(window = OFFSET_WINDOW) {
    this.window = window;
    this.samples = []; // [roundTripMs, offsetMs]
  }

  // A pong: its ping was sent at sentMs and it arrived at receivedMs (browser clock); serverMs: its envelope's sentTsNs.
  observe(sentMs, serverMs, receivedMs) {
    const roundTrip = receivedMs - sentMs;
    if (!(roundTrip >= 0) || !(serverMs > 0)) return;
    this.samples.push([roundTrip, serverMs - (sentMs + receivedMs) / 2]);
    if (this.samples.length > this.window) this.samples.shift();
  }

  get known() { return this.samples.length > 0; }

  best() {
    let best = null;
    for (const sample of this.samples) if (best === null || sample[0] < best[0]) best = sample;
    return best;
  }

  get offsetMs() { return this.best()?.[1] ?? 0; }

  get roundTripMs() { return this.best()?.[0] ?? NaN; }
}

// A clock skew for people: "+3275 d 11:06:40 (replay)" past a day (no live venue's clock is a day off: the
// ticks are a recorded tape's, replayed now), else "+1.234 s" / "+12.3 ms"; "–" when unknown.
export function formatSkew(ms) {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return "–";
  const sign = ms < 0 ? "−" : "+";
  let rest = Math.abs(ms);
  if (rest >= 86_400_000) {
    const days = Math.floor(rest / 86_400_000);
    rest -= days * 86_400_000;
    const hours = Math.floor(rest / 3_600_000);
    rest -= hours * 3_600_000;
    const minutes = Math.floor(rest / 60_000);
    const seconds = Math.floor((rest - minutes * 60_000) / 1000);
    const pad = (value) => String(value).padStart(2, "0");
    return `${sign}${days} d ${pad(hours)}:${pad(minutes)}:${pad(seconds)} (replay)`;
  }
  if (rest >= 1000) return `${sign}${(rest / 1000).toFixed(3)} s`;
  return `${sign}${rest.toFixed(1)} ms`;
}

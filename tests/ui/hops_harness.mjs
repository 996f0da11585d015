// Node harness for ui/hops.js and the hop rings of ui/metrics.js, driven by tests/ui/test_hops.py.
//
//   node tests/ui/hops_harness.mjs <case.json>
//
// case: {frames: [{exchangeMs, venueMs, skewMs, builtMs, decodedMs, offsetMs}],
//        pongs: [[sentMs, serverMs, receivedMs]], rings: [[hop, valueMs, atMs]], ringsAtMs,
//        applied: {gatewayMs: [...], decodedMs: [...], offsetMs}, skews: [ms...]}
// Prints {frames: [hops...], clock: {offsetMs, roundTripMs, known}, rings: snapshot, painted: {hop: [...]}, skews: [...]}.

import { readFileSync } from "node:fs";
import { ClockOffset, formatSkew, frameHops } from "../../ui/hops.js";
import { FrameMetrics, HopRings } from "../../ui/metrics.js";

const spec = JSON.parse(readFileSync(process.argv[2], "utf8"));
const finite = (value) => (Number.isFinite(value) ? value : String(value));
const out = {};
out.frames = (spec.frames ?? []).map((stamps) => Object.fromEntries(
  Object.entries(frameHops(stamps)).map(([key, value]) => [key, finite(value)])));
const clock = new ClockOffset(spec.window ?? 8);
for (const [sent, server, received] of spec.pongs ?? []) clock.observe(sent, server, received);
out.clock = { offsetMs: clock.offsetMs, roundTripMs: finite(clock.roundTripMs), known: clock.known };
const rings = new HopRings(spec.capacity ?? 4096);
for (const [hop, value, at] of spec.rings ?? []) rings.push(hop, value, at);
out.rings = rings.snapshot(spec.ringsAtMs ?? 0);
if (spec.applied) {
  const metrics = new FrameMetrics();
  metrics.clockOffsetMs = spec.applied.offsetMs;
  metrics.ticksApplied(Float64Array.from(spec.applied.gatewayMs), Float64Array.from(spec.applied.decodedMs));
  metrics.framePainted();
  const drained = metrics.drain();
  out.painted = drained.hops;
  out.paintMs = drained.paint_ms;
}
out.skews = (spec.skews ?? []).map(formatSkew);
process.stdout.write(JSON.stringify(out));

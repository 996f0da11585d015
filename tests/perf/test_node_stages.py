"""perf/_node_stages.py: an order's stamps read from several nodes' timelines, and bench_nats.py's order stages end
to end (slow)."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("_node_stages", REPO / "perf" / "_node_stages.py")
_node_stages = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_node_stages)   # perf/ is not a package: loaded by path, sys.path untouched
order_timelines, read_stamps, stage_samples = (_node_stages.order_timelines, _node_stages.read_stamps,
                                               _node_stages.stage_samples)

PATH = ("client_send", "host.request", "host.send", "host.reply", "client_recv")


def test_order_timelines_when_stamps_of_two_orders_and_an_earlier_push_then_each_order_gets_its_own():
    """Each window takes the first stamp of each name at or after the previous one found: a stamp before the
    previous step (an earlier order's push) or outside the window is not the order's."""
    stamps = [("host.reply", 105), ("host.request", 110), ("host.send", 120), ("host.reply", 130),
              ("host.request", 210), ("host.reply", 215), ("host.send", 220), ("host.reply", 240),
              ("host.request", 300)]
    first, second = order_timelines(stamps, [(100, 150), (200, 250)], PATH)
    assert first == {"client_send": 100, "host.request": 110, "host.send": 120, "host.reply": 130,
                     "client_recv": 150}
    assert second["host.reply"] == 240 and second["client_recv"] == 250


def test_stage_samples_when_a_stamp_is_missing_then_its_neighbours_join_and_total_spans_the_path():
    """A stage runs from one present stamp to the next (µs); a missing stamp joins its neighbours' stage."""
    timelines = [{"client_send": 0, "host.request": 1_000, "host.send": 3_000, "host.reply": 4_000,
                  "client_recv": 6_000},
                 {"client_send": 0, "host.request": 2_000, "host.reply": 5_000, "client_recv": 6_000}]
    samples = stage_samples(timelines, PATH)
    assert samples["host.request→host.send"] == [2.0]
    assert samples["host.request→host.reply"] == [3.0]
    assert samples["client_send→host.request"] == [1.0, 2.0] and samples["total"] == [6.0, 6.0]


def test_read_stamps_when_nodes_write_json_lines_then_merged_in_time_order(tmp_path):
    """Stamps of several nodes merge into one timeline (one clock: CLOCK_MONOTONIC); a missing file is none."""
    (tmp_path / "a.stages").write_text(json.dumps(["a.x", 5]) + "\n" + json.dumps(["a.y", 9]) + "\n")
    (tmp_path / "b.stages").write_text(json.dumps(["b.x", 7]) + "\n")
    assert read_stamps([tmp_path / "a.stages", tmp_path / "b.stages", tmp_path / "c.stages"]) == [
        ("a.x", 5), ("b.x", 7), ("a.y", 9)]


@pytest.mark.slow  # ~30 s: node processes and a nats-server
def test_bench_nats_when_orders_only_then_every_path_staged_with_its_floor_and_plotted(tmp_path):
    """A small run times each path's orders stage by stage inside the nodes, the floor beside each (ping, echo),
    the loop callbacks of each node, and writes the orders PNG."""
    out, png = tmp_path / "nats.json", tmp_path / "orders.png"
    subprocess.run([sys.executable, str(REPO / "perf" / "bench_nats.py"), "--quick", "--orders-only", "--orders",
                    "20", "--json", str(out), "--png", str(tmp_path / "failover.png"), "--orders-png", str(png)],
                   cwd=REPO, check=True, timeout=240, capture_output=True)
    orders = json.loads(out.read_text())["orders"]
    for path, floor, stamp in (("ws_in_process", "ws_in_process_ping", "all.order_command"),
                               ("nats_to_host", "nats_to_host_echo", "host.order_command"),
                               ("ws_via_edge", "ws_via_edge_ping", "edge.session_client")):
        assert orders[f"{path}_p50_us"] > 0 and orders[f"{floor}_p50_us"] > 0
        stages = orders["stages"][path]
        assert stages["total"]["n"] == 20 and any(stage.startswith(stamp) for stage in stages)
    assert "host.store0→host.store1" in orders["stages"]["nats_to_host"]
    assert {"all", "host", "edge"} == orders["loop_callbacks"].keys()
    assert png.stat().st_size > 1000

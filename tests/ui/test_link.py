"""ui/link.js in node: the desk's socket URLs from the page's address (``?edges=``, the deprecated ``?gateways=``)."""

from __future__ import annotations

from pathlib import Path

from tests.ui.ui_frames import run_node_script

HARNESS = Path(__file__).resolve().parent / "link_harness.mjs"


def _urls(*hrefs: str) -> list[dict]:
    return run_node_script(HARNESS, *hrefs)


def test_desk_socket_urls_when_edges_given_then_own_socket_first_then_the_other_edge_nodes():
    """``?edges=`` lists the desk's other edge nodes after the page's own /ws (https → wss); junk is dropped."""
    (plain, secure) = _urls("http://127.0.0.1:8702/?edges=ws://127.0.0.1:8703/ws,ftp://x,wss://b/ws#token=t",
                            "https://desk.example/app/?worker=dedicated")

    assert plain["urls"] == "ws://127.0.0.1:8702/ws,ws://127.0.0.1:8703/ws,wss://b/ws" and plain["warnings"] == []
    assert secure["urls"] == "wss://desk.example/app/ws" and secure["warnings"] == []


def test_desk_socket_urls_when_old_gateways_parameter_then_still_read_with_a_deprecation_note():
    """``?gateways=`` (the old word) still works when ``?edges=`` is absent, and says it is deprecated."""
    (old, both) = _urls("http://127.0.0.1:8702/?gateways=ws://127.0.0.1:8703/ws",
                        "http://127.0.0.1:8702/?gateways=ws://a/ws&edges=ws://b/ws")

    assert old["urls"] == "ws://127.0.0.1:8702/ws,ws://127.0.0.1:8703/ws"
    assert len(old["warnings"]) == 1 and "?edges=" in old["warnings"][0] and "deprecated" in old["warnings"][0]
    assert both["urls"] == "ws://127.0.0.1:8702/ws,ws://b/ws" and "ignored" in both["warnings"][0]

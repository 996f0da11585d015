"""LivenessBook: the worst of the group's word, the supervisor's and the watchdog's; pushed only on change."""

from __future__ import annotations

import time

from actors.market.liveness import Liveness
from actors.sessions.liveness import LivenessBook


def _book(down=None, stale_after_s=0.0):
    return LivenessBook(stale_after_s, lambda group: down)


def test_group_said_when_tracked_then_pushed_and_repeated_word_pushed_again():
    """The group's answer to an attach is always passed on (a NATS edge node may be listening anew)."""
    book = _book()
    book.track("rb")
    first = book.group_said("rb", Liveness("live", "", 1))
    again = book.group_said("rb", Liveness("live", "", 1))
    assert first.liveness.state == "live" and again is not None
    assert book.group_said("zz", Liveness("live", "", 1)) is None


def test_sweep_when_silent_then_stale_once_and_frame_clears_it():
    """Silence past stale_after_s is stale (said once); the next frame makes it live again."""
    book = _book()
    book.track("rb")
    book.group_said("rb", Liveness("live", "", 1))
    [change] = book.sweep()
    assert change.liveness.state == "stale" and "no frame or heartbeat" in change.liveness.reason
    assert book.sweep() == []
    assert book.heard("rb").liveness.state == "live"
    assert book.heard("rb") is None


def test_worst_when_supervisor_and_group_disagree_then_supervisor_wins_until_group_speaks():
    """stopped (supervisor) beats the group's closed; the next incarnation's word clears it."""
    book = LivenessBook(60.0, lambda group: None)
    book.track("rb")
    book.group_said("rb", Liveness("closed", "outside trading windows", 1))
    assert book.actor_said("rb", Liveness("stopped", "stopped by ops", 2)).liveness.state == "stopped"
    assert book.actor_said("rb", Liveness("stopped", "stopped by ops", 2)) is None
    assert book.heard("rb") is None  # a frame does not undo a stop
    assert book.group_said("rb", Liveness("live", "", 3)).liveness.state == "live"
    assert book.shown() == {"rb": "live"}


def test_sweep_when_registry_says_down_then_that_state_not_stale():
    """A silent group whose actor the registry shows restarting is restarting, not stale."""
    book = _book(down="restarting")
    book.track("rb")
    [change] = book.sweep()
    assert change.liveness.state == "restarting"


def test_source_down_when_watchdog_stale_then_source_down_shown():
    """The group's (or remote group's) sourceDown is worse than the session's own stale."""
    book = _book()
    book.track("rb")
    book.group_said("rb", Liveness("live", "", 1))
    book.sweep()
    change = book.group_said("rb", Liveness("sourceDown", "aggregator silent", time.time_ns()))
    assert change.liveness.state == "sourceDown"

"""GroupAttachments: an unanswered attach is sent again with a doubling wait; while the desk warms up a group not
created yet is held, attached once it appears, or refused unknownGroup exactly once (with its subscribe's
correlation) once the desk is warm and it still does not exist."""

from __future__ import annotations

import itertools

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from actors.paths import group_path, is_token
from actors.sessions.attachments import ATTACH_RETRY_MAX_S, ATTACH_RETRY_S, GroupAttachments, LateRefusal

GROUPS = ("rb", "cu", "zz")
NAMES = GROUPS + ("a b",)
"""Group names a client may send; ``"a b"`` is never a group (a path token has no whitespace)."""


class Desk:
    """What a session's attachments see: the registry, whether the desk warms up, the attaches and timers sent."""

    def __init__(self, *existing: str, warming: bool = True) -> None:
        self.registry: set[str] = {group_path(group) for group in existing}
        self.warming = warming
        self.subscribed: dict[str, None] = {}
        self.attaches: list[tuple[str, int]] = []          # (group, tag)
        self.timers: list[tuple[str, int, float]] = []     # (group, generation, wait s), armed and not fired
        self.attachments = self.start()

    def start(self) -> GroupAttachments:
        """A (restarted) session's attachments over the same subscribed groups."""
        return GroupAttachments(self.subscribed, self.registry, lambda: self.warming,
                                lambda group, tag: self.attaches.append((group, tag)),
                                lambda group, generation, wait_s: self.timers.append((group, generation, wait_s)))

    def appear(self, group: str) -> None:
        self.registry.add(group_path(group))

    def exists(self, group: str) -> bool:
        return is_token(group) and group_path(group) in self.registry

    def fire(self, index: int = -1) -> LateRefusal | None:
        """The retry timer ``index`` (default: the latest armed) fires."""
        group, generation, _ = self.timers.pop(index)
        return self.attachments.retry(group, generation)


def test_subscribe_when_desk_warm_then_existing_attached_absent_and_invalid_refused_at_once():
    """On a warm desk a subscribe attaches the groups that exist and refuses the others in its answer."""
    desk = Desk("rb", warming=False)
    assert desk.attachments.subscribe(["rb", "zz", "a b"], 7) == ["zz", "a b"]
    assert list(desk.subscribed) == ["rb"] and desk.attaches == [("rb", 1)]
    assert desk.timers == [("rb", 1, ATTACH_RETRY_S)]
    assert desk.attachments.subscribe(["rb"], 8) == [] and len(desk.attaches) == 1   # already subscribed


def test_retry_when_group_silent_then_attached_again_wait_doubling_to_the_cap():
    """An unanswered attach is sent again, 0.25 s, 0.5 s ... up to 4 s; each retry is counted."""
    desk = Desk("rb", warming=False)
    desk.attachments.subscribe(["rb"], 1)
    for _ in range(7):
        assert desk.fire() is None
    assert [wait for _, _, wait in desk.timers] == [ATTACH_RETRY_MAX_S]
    assert [tag for _, tag in desk.attaches] == list(range(1, 9))
    assert desk.attachments.retries == 7 and desk.attachments.attaching() == ["rb"]


def test_retry_when_group_answered_or_attach_superseded_then_timer_does_nothing():
    """A frame from the group ends the retries; the timer of an older attach never sends another."""
    desk = Desk("rb", "cu", warming=False)
    desk.attachments.subscribe(["rb", "cu"], 1)
    desk.attachments.answered("rb")
    desk.attachments.attach("cu")            # a re-attach (entitlements changed): the first timer is stale
    assert desk.fire(0) is None and desk.fire(0) is None
    assert desk.attaches == [("rb", 1), ("cu", 2), ("cu", 3)]
    assert desk.attachments.attaching() == ["cu"] and desk.attachments.retries == 0


def test_subscribe_when_warming_and_group_absent_then_held_and_attached_once_it_appears():
    """While the desk warms up an absent group is subscribed, held and retried; once it exists it is attached as
    any other, and a desk that turns warm later never refuses it."""
    desk = Desk()
    assert desk.attachments.subscribe(["rb"], 5) == []
    assert desk.attachments.held("rb") and list(desk.subscribed) == ["rb"]
    assert desk.fire() is None and desk.attachments.held("rb")          # still warming, still absent
    desk.appear("rb")
    assert desk.fire() is None and not desk.attachments.held("rb")
    desk.warming = False
    assert desk.fire() is None and list(desk.subscribed) == ["rb"]
    assert [group for group, _ in desk.attaches] == ["rb"] * 4


def test_retry_when_desk_warm_and_held_group_absent_then_refused_once_with_its_subscribe_correlation():
    """A held group that no contract made is refused unknownGroup with its subscribe's correlation, unsubscribed,
    and never attached or refused again."""
    desk = Desk()
    desk.attachments.subscribe(["zz"], 42)
    desk.warming = False
    refusal = desk.fire()
    assert refusal is not None and (refusal.group, refusal.correlation) == ("zz", 42)
    assert "no such group: zz" in refusal.reason
    assert desk.subscribed == {} and desk.attachments.attaching() == [] and not desk.attachments.held("zz")
    assert desk.timers == [] and len(desk.attaches) == 1


def test_restore_when_session_restarted_while_warming_then_absent_groups_held_with_correlation_zero():
    """A restarted session attaches its groups again and keeps waiting for those not created yet (their
    subscribe was answered by the earlier incarnation: a late refusal carries correlation 0)."""
    desk = Desk("rb")
    desk.subscribed.update(dict.fromkeys(["rb", "zz"]))
    desk.attachments.restore()
    assert [group for group, _ in desk.attaches] == ["rb", "zz"]
    assert not desk.attachments.held("rb") and desk.attachments.held("zz")
    desk.warming = False
    refusal = desk.fire()
    assert refusal is not None and (refusal.group, refusal.correlation) == ("zz", 0)


def test_unsubscribe_when_held_then_forgotten_and_says_whether_a_detach_is_due():
    """Unsubscribing ends the hold and the retries; it reports whether the group was subscribed."""
    desk = Desk()
    desk.attachments.subscribe(["zz"], 3)
    assert desk.attachments.unsubscribe("zz") is True
    assert desk.attachments.unsubscribe("zz") is False
    desk.warming = False
    assert desk.fire() is None and desk.attaches == [("zz", 1)]


class AttachmentsMachine(RuleBasedStateMachine):
    """GroupAttachments against a model of the rules: subscribe, unsubscribe, a group appears, the desk becomes
    warm, a retry timer fires, a group answers, a re-attach, a session restart."""

    def __init__(self) -> None:
        super().__init__()
        self.desk = Desk()
        self.correlations = itertools.count(1)
        self.holds = itertools.count(1)
        self.subscribed: set[str] = set()
        self.current: dict[str, tuple[int, float]] = {}     # group → its unanswered attach (generation, wait s)
        self.held: dict[str, tuple[int, int]] = {}          # group → (hold id, its subscribe's correlation)
        self.outcomes: dict[int, list[str]] = {}           # hold id → "attached" / "refused", in order

    def _expect_attaches(self, groups: list[str], since: tuple[int, int], wait_s: float) -> None:
        """Each of ``groups`` got one attach and one retry timer of the same tag, waiting ``wait_s``."""
        attaches, timers = self.desk.attaches[since[0]:], self.desk.timers[since[1]:]
        assert [group for group, _ in attaches] == groups
        assert timers == [(group, tag, wait_s) for group, tag in attaches]
        for group, tag in attaches:
            self.current[group] = (tag, wait_s)

    def _mark(self) -> tuple[int, int]:
        return len(self.desk.attaches), len(self.desk.timers)

    def _hold(self, group: str, correlation: int) -> None:
        hold = next(self.holds)
        self.held[group] = (hold, correlation)
        self.outcomes[hold] = []

    @rule(groups=st.lists(st.sampled_from(NAMES), min_size=1, max_size=3, unique=True))
    def subscribe(self, groups: list[str]) -> None:
        correlation = next(self.correlations)
        refused = [g for g in groups if not self.desk.exists(g) and not (self.desk.warming and is_token(g))]
        new = [g for g in groups if g not in refused and g not in self.subscribed]
        since = self._mark()
        assert self.desk.attachments.subscribe(groups, correlation) == refused
        if self.desk.warming:
            assert all(not is_token(group) for group in refused)      # never a group refused while warming
        self._expect_attaches(new, since, ATTACH_RETRY_S)
        for group in new:
            self.subscribed.add(group)
            if not self.desk.exists(group):
                self._hold(group, correlation)

    @rule(group=st.sampled_from(NAMES))
    def unsubscribe(self, group: str) -> None:
        assert self.desk.attachments.unsubscribe(group) == (group in self.subscribed)
        self.subscribed.discard(group)
        self.current.pop(group, None)
        self.held.pop(group, None)

    @rule(group=st.sampled_from(GROUPS))
    def group_appears(self, group: str) -> None:
        self.desk.appear(group)

    @precondition(lambda self: self.desk.warming)
    @rule()
    def desk_becomes_warm(self) -> None:
        self.desk.warming = False

    @rule(group=st.sampled_from(GROUPS))
    def group_answers(self, group: str) -> None:
        """A group that exists answers the attach it got (its info): attached."""
        if not self.desk.exists(group) or group not in self.current:
            return
        self.desk.attachments.answered(group)
        del self.current[group]
        if group in self.held:
            self.outcomes[self.held[group][0]].append("attached")

    @rule(group=st.sampled_from(GROUPS))
    def attach_again(self, group: str) -> None:
        """The group restarted or the token's entitlements changed: the session attaches again."""
        if group not in self.subscribed:
            return
        since = self._mark()
        self.desk.attachments.attach(group)
        self._expect_attaches([group], since, ATTACH_RETRY_S)

    @rule()
    def session_restarts(self) -> None:
        """A new incarnation over the same subscribed groups; the old one's timers died with its address."""
        self.desk.timers.clear()
        self.desk.attachments = self.desk.start()
        self.current.clear()
        self.held.clear()
        since = self._mark()
        self.desk.attachments.restore()
        self._expect_attaches(list(self.desk.subscribed), since, ATTACH_RETRY_S)
        for group in self.desk.subscribed:
            if self.desk.warming and not self.desk.exists(group):
                self._hold(group, 0)

    @precondition(lambda self: self.desk.timers)
    @rule(data=st.data())
    def retry_timer_fires(self, data) -> None:
        index = data.draw(st.integers(0, len(self.desk.timers) - 1))
        group, generation, wait_s = self.desk.timers[index]
        since = self._mark()
        refusal = self.desk.fire(index)
        since = (since[0], since[1] - 1)
        if self.current.get(group) != (generation, wait_s):              # answered, superseded or dropped
            assert refusal is None and self._mark() == since
            return
        if group in self.held and not self.desk.exists(group) and not self.desk.warming:
            hold, correlation = self.held.pop(group)
            assert refusal is not None and (refusal.group, refusal.correlation) == (group, correlation)
            assert self._mark() == since
            self.outcomes[hold].append("refused")
            self.subscribed.discard(group)
            del self.current[group]
            return
        assert refusal is None
        if group in self.held and self.desk.exists(group):
            hold, _ = self.held.pop(group)
            self.outcomes[hold].append("attached")
        self._expect_attaches([group], since, min(wait_s * 2, ATTACH_RETRY_MAX_S))

    @invariant()
    def agrees_with_the_model(self) -> None:
        assert set(self.desk.subscribed) == self.subscribed
        assert set(self.desk.attachments.attaching()) == set(self.current)
        assert {group for group in NAMES if self.desk.attachments.held(group)} == set(self.held)

    @invariant()
    def a_hold_ends_attached_or_refused_once_never_both(self) -> None:
        for outcomes in self.outcomes.values():
            assert outcomes.count("refused") <= 1
            assert not ("refused" in outcomes and "attached" in outcomes)


AttachmentsMachine.TestCase.settings = settings(max_examples=150, stateful_step_count=40, deadline=None)
test_attachments_when_driven_at_random_then_agree_with_the_model = AttachmentsMachine.TestCase

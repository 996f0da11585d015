"""The drain backlog: slice cost, whole groups, a group over budget split, replacement in place, feed statuses
after their drain's ticks; and against a model (hypothesis)."""

from __future__ import annotations

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from transport.venue.drain_backlog import TICK_BATCH_COST_TICKS, DrainBacklog

COST = TICK_BATCH_COST_TICKS


def _fill(backlog: DrainBacklog, symbols_by_group: dict[str, list[str]], drain: int = 1, interleave: bool = False):
    """Add one tick per symbol (the tick is ``"<vt_symbol>@<drain>"``), group by group or interleaved."""
    if interleave:
        rows = [(group, symbols[i]) for i in range(max(map(len, symbols_by_group.values())))
                for group, symbols in symbols_by_group.items() if i < len(symbols)]
    else:
        rows = [(group, symbol) for group, symbols in symbols_by_group.items() for symbol in symbols]
    for i, (group, symbol) in enumerate(rows):
        backlog.add(group, symbol, f"{symbol}@{drain}", 1_000 + i, drain)


def _symbols(taken) -> list[str]:
    return [vt_symbol for vt_symbol, _ in taken]


def test_take_slice_when_groups_fit_then_whole_groups_in_order_of_their_first_tick():
    """Slices take whole groups, each costing its ticks plus one TickBatch, in the order their first tick waited."""
    backlog = DrainBacklog()
    groups = {name: [f"{name}{i}" for i in range(30)] for name in ("rb", "cu", "al")}
    _fill(backlog, groups, interleave=True)
    budget = 2 * (30 + COST) + 5   # two groups' work, not three

    first, second, third = (backlog.take_slice(budget) for _ in range(3))

    assert _symbols(first) == groups["rb"] + groups["cu"]
    assert _symbols(second) == groups["al"]
    assert third == [] and len(backlog) == 0 and not backlog


def test_take_slice_when_budget_is_exactly_the_cost_then_the_group_fits_and_one_tick_more_does_not():
    """A group fits when its ticks plus one TickBatch equal the budget; the next group waits for the next slice."""
    backlog = DrainBacklog()
    _fill(backlog, {"rb": ["rb1", "rb2"], "cu": ["cu1"]})

    assert _symbols(backlog.take_slice(2 + COST)) == ["rb1", "rb2"]
    assert _symbols(backlog.take_slice(1 + COST)) == ["cu1"]


def test_take_slice_when_a_group_alone_is_over_budget_then_split_over_slices_none_lost_or_duplicated():
    """250 ticks of one group, 100 ticks' work a slice: 100, 100, 50, in waiting order, each tick once."""
    backlog = DrainBacklog()
    symbols = [f"rb{1000 + i}" for i in range(250)]
    _fill(backlog, {"rb": symbols})

    slices = [backlog.take_slice(100 + COST) for _ in range(4)]

    assert [len(taken) for taken in slices] == [100, 100, 50, 0]
    assert [symbol for taken in slices for symbol in _symbols(taken)] == symbols
    assert all(tick == f"{symbol}@1" for taken in slices for symbol, (tick, _, _) in taken)


def test_take_slice_when_a_split_group_follows_a_fitting_one_then_it_waits_for_its_own_slices_first_in_line():
    """A group over budget behind one that fits is not split into that slice; its rest goes before later groups."""
    backlog = DrainBacklog()
    big = [f"rb{i}" for i in range(150)]
    _fill(backlog, {"cu": ["cu1", "cu2"], "rb": big, "al": ["al1"]})

    slices = [backlog.take_slice(100 + COST) for _ in range(4)]

    assert [_symbols(taken) for taken in slices] == [["cu1", "cu2"], big[:100], big[100:] + ["al1"], []]


def test_take_slice_when_budget_below_one_tick_batch_then_still_takes_a_tick():
    """A slice always makes progress: at least one tick while any waits."""
    backlog = DrainBacklog()
    _fill(backlog, {"rb": ["rb1", "rb2"]})

    assert _symbols(backlog.take_slice(1)) == ["rb1"]
    assert _symbols(backlog.take_slice(1)) == ["rb2"]


def test_add_when_contract_still_waits_then_latest_replaces_it_in_place_and_counts_as_replaced():
    """A newer tick of a waiting contract replaces it where it stands, with its receive time and drain."""
    backlog = DrainBacklog()
    assert backlog.add("rb", "rb1", "old", 10, 1) is False
    assert backlog.add("rb", "rb2", "other", 11, 1) is False
    assert backlog.add("cu", "cu1", "cu", 12, 1) is False

    assert backlog.add("rb", "rb1", "new", 20, 2) is True

    assert len(backlog) == 3 and backlog.waiting("rb", "rb1") == "new"
    assert backlog.take_slice(1_000) == [("rb1", ("new", 20, 2)), ("rb2", ("other", 11, 1)), ("cu1", ("cu", 12, 1))]


def test_add_when_contract_already_taken_then_it_waits_again_behind_the_others():
    """A contract routed by an earlier slice waits again with its newer tick, its group at the end of the line."""
    backlog = DrainBacklog()
    _fill(backlog, {"rb": ["rb1"], "cu": ["cu1"]})
    assert _symbols(backlog.take_slice(1 + COST)) == ["rb1"]

    assert backlog.add("rb", "rb1", "rb1@2", 30, 2) is False

    assert backlog.waiting("rb", "rb1") == "rb1@2" and backlog.waiting("cu", "rb1") is None
    assert _symbols(backlog.take_slice(1_000)) == ["cu1", "rb1"]


def test_take_due_statuses_when_ticks_of_its_drain_wait_then_due_only_after_their_last_slice():
    """A status is due once no tick of its drain or an earlier one waits; statuses leave in the order added."""
    backlog = DrainBacklog()
    _fill(backlog, {"rb": [f"rb{i}" for i in range(150)]}, drain=1)
    backlog.add_statuses(1, ["down"])
    backlog.add("cu", "cu1", "cu1@2", 50, 2)
    backlog.add_statuses(2, ["up", "ended"])

    assert backlog.take_due_statuses() == []
    backlog.take_slice(100 + COST)
    assert backlog.take_due_statuses() == []          # 50 ticks of drain 1 still wait
    backlog.take_slice(50 + COST)
    assert backlog.take_due_statuses() == ["down"]    # drain 2's tick still waits
    backlog.take_slice(1 + COST)
    assert backlog.take_due_statuses() == ["up", "ended"]
    assert backlog.take_due_statuses() == []


def test_take_due_statuses_when_its_drains_tick_was_replaced_by_a_later_drain_then_due():
    """A waiting tick replaced by a later drain's counts as the later drain's: the earlier status need not wait."""
    backlog = DrainBacklog()
    backlog.add("rb", "rb1", "rb1@1", 10, 1)
    backlog.add_statuses(1, ["down"])
    backlog.add("rb", "rb1", "rb1@2", 20, 2)
    backlog.add_statuses(2, ["up"])

    assert backlog.take_due_statuses() == ["down"]
    backlog.take_slice(1_000)
    assert backlog.take_due_statuses() == ["up"]


def test_take_due_statuses_when_nothing_waits_then_all_due():
    """With no tick waiting, every status is due at once."""
    backlog = DrainBacklog()
    backlog.add_statuses(3, ["a", "b"])

    assert backlog.take_due_statuses() == ["a", "b"]


GROUPS = ("rb", "cu", "al")
SYMBOLS = tuple((group, f"{group}{i}") for group in GROUPS for i in range(6))


class DrainBacklogMachine(RuleBasedStateMachine):
    """Random adds, drains, slices and feed statuses against a model of what waits.

    Every added tick leaves exactly once, as the latest of its vt_symbol, unless replaced while waiting; a slice
    is whole groups in line order that fit the budget (the next would not), or the first group's first ticks
    when it alone is over budget; statuses leave in order, never while a tick of an earlier-or-equal drain
    waits, and as soon as none does.
    """

    def __init__(self) -> None:
        super().__init__()
        self.backlog = DrainBacklog()
        self.drain = 1
        self.next_id = 0
        self.lines: dict[str, dict[str, tuple[int, int]]] = {}   # group (in line) → vt_symbol → (tick id, drain)
        self.statuses: list[tuple[int, int]] = []                # (drain, status id) not yet due
        self.added: set[int] = set()
        self.replaced: set[int] = set()
        self.left: list[int] = []
        self.statuses_added = 0
        self.statuses_left: list[int] = []

    @rule()
    def next_drain(self) -> None:
        """a later drain takes what vn.py sent since."""
        self.drain += 1

    @rule(symbol=st.sampled_from(SYMBOLS))
    def add(self, symbol: tuple[str, str]) -> None:
        """a drain takes a contract's tick."""
        group, vt_symbol = symbol
        tick = self.next_id
        self.next_id += 1
        self.added.add(tick)
        line = self.lines.setdefault(group, {})
        previous = line.get(vt_symbol)
        assert self.backlog.add(group, vt_symbol, tick, 1_000 + tick, self.drain) is (previous is not None)
        if previous is not None:
            self.replaced.add(previous[0])
        line[vt_symbol] = (tick, self.drain)

    @rule(count=st.integers(0, 3))
    def add_statuses(self, count: int) -> None:
        """a drain takes feed statuses."""
        new = list(range(self.statuses_added, self.statuses_added + count))
        self.statuses_added += count
        self.backlog.add_statuses(self.drain, new)
        self.statuses.extend((self.drain, status) for status in new)

    @rule(budget=st.integers(1, 3 * (6 + COST)))
    def take_slice(self, budget: int) -> None:
        """route a slice."""
        taken = self.backlog.take_slice(budget)
        if not self.lines:
            assert taken == []
            return
        order = list(self.lines)
        first = self.lines[order[0]]
        if len(first) + COST > budget:   # the first group alone over budget: split
            expected = list(first.items())[:max(1, budget - COST)]
            assert [(s, (t, d)) for s, (t, _, d) in taken] == expected
            for vt_symbol, _ in expected:
                del first[vt_symbol]
            if not first:
                del self.lines[order[0]]
        else:
            expected, cost = [], 0
            for group in order:
                need = len(self.lines[group]) + COST
                if cost + need > budget:
                    break
                cost += need
                expected.extend(self.lines.pop(group).items())
            assert [(s, (t, d)) for s, (t, _, d) in taken] == expected
        for _, (tick, received_ns, _) in taken:
            assert received_ns == 1_000 + tick
            self.left.append(tick)

    @rule()
    def take_due_statuses(self) -> None:
        """announce the feed statuses now due."""
        due = self.backlog.take_due_statuses()
        waiting_drains = [d for line in self.lines.values() for _, d in line.values()]
        oldest = min(waiting_drains, default=None)
        # in order, up to the first one a waiting tick of its drain or an earlier one holds back
        prefix = []
        for drain, status in self.statuses:
            if oldest is not None and drain >= oldest:
                break
            prefix.append(status)
        assert due == prefix
        del self.statuses[:len(due)]
        self.statuses_left.extend(due)

    @invariant()
    def waiting_matches_the_model(self) -> None:
        waiting = {(group, s): t for group, line in self.lines.items() for s, (t, _) in line.items()}
        assert len(self.backlog) == len(waiting) and bool(self.backlog) is bool(waiting)
        for group, vt_symbol in SYMBOLS:
            assert self.backlog.waiting(group, vt_symbol) == waiting.get((group, vt_symbol))

    def teardown(self) -> None:
        while self.backlog:
            self.left.extend(tick for _, (tick, _, _) in self.backlog.take_slice(1 + COST))
        self.statuses_left.extend(self.backlog.take_due_statuses())
        assert len(self.left) == len(set(self.left))                   # none twice
        assert set(self.left) | self.replaced == self.added            # none lost
        assert not set(self.left) & self.replaced                      # a replaced tick never leaves
        assert self.statuses_left == list(range(self.statuses_added))  # every status, in order


TestDrainBacklogModel = DrainBacklogMachine.TestCase
TestDrainBacklogModel.settings = settings(max_examples=200, stateful_step_count=60, deadline=None)

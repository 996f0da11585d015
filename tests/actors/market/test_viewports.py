"""Viewports: the union of the rows each session's client shows, the latest viewport per session, rows past the
group's end ignored."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from actors.market.viewports import Viewports


def test_visible_when_no_viewport_then_none_and_statistics_say_so():
    """Without a viewport nothing is preferred in a cut frame."""
    viewports = Viewports()
    assert viewports.visible(10) is None
    assert viewports.statistics(10) == {"viewports": 0, "viewport_rows": 0, "viewport_first_row": -1,
                                        "viewport_last_row": -1}


def test_visible_when_a_run_and_a_sorted_view_then_union_and_rows_past_the_end_ignored():
    """One session's run and another's scattered rows are both shown; indexes past the group's end are not."""
    viewports = Viewports()
    viewports.show("sessions/session/1", 2, 3)
    viewports.show("sessions/session/2", 0, 0, [9, 0, 42])
    assert list(np.flatnonzero(viewports.visible(10))) == [0, 2, 3, 4, 9]
    assert viewports.statistics(10) == {"viewports": 2, "viewport_rows": 5, "viewport_first_row": 0,
                                        "viewport_last_row": 9}
    assert list(np.flatnonzero(viewports.visible(4))) == [0, 2, 3]   # the group shrank


def test_show_when_session_scrolls_then_only_its_latest_viewport_counts_and_forget_drops_it():
    """A scroll replaces the session's viewport; a detached session's rows are no longer preferred."""
    viewports = Viewports()
    viewports.show("s1", 0, 5)
    viewports.show("s1", 5, 2)
    assert list(np.flatnonzero(viewports.visible(10))) == [5, 6] and len(viewports) == 1
    viewports.forget("s1")
    viewports.forget("s1")
    assert viewports.visible(10) is None and len(viewports) == 0


_viewport = st.one_of(
    st.tuples(st.integers(0, 40), st.integers(0, 40), st.just(())),
    st.tuples(st.just(0), st.just(0), st.lists(st.integers(0, 40), min_size=1, max_size=8)))


@given(st.lists(st.tuples(st.sampled_from(["s1", "s2", "s3"]), st.one_of(st.none(), _viewport)), max_size=20),
       st.integers(0, 32))
def test_visible_when_shown_and_forgotten_at_random_then_the_union_of_each_sessions_latest(steps, size):
    """Whatever the order of scrolls and detaches (and the cached union), the rows shown are exactly those of each
    session's latest viewport within the group."""
    viewports = Viewports()
    latest: dict[str, tuple] = {}
    for session, shown in steps:
        if shown is None:
            viewports.forget(session)
            latest.pop(session, None)
        else:
            viewports.show(session, *shown)
            latest[session] = shown
        viewports.visible(size)   # the union is cached between changes
    expected = set()
    for first, count, indexes in latest.values():
        expected |= set(indexes) if indexes else set(range(first, first + count))
    visible = viewports.visible(size)
    assert (visible is None) == (not latest)
    if visible is not None:
        assert set(np.flatnonzero(visible)) == {row for row in expected if row < size}

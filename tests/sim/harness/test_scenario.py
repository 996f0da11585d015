"""Scenario files (sim.harness.scenario) and the verdict (sim.harness.report)."""

from __future__ import annotations

from pathlib import Path

import pytest

from sim.errors import ScenarioError
from sim.harness.report import FaultOutcome, SimReport, judge
from sim.harness.scenario import FAULT_KINDS, load_scenario, parse_scenario

SCENARIOS = Path(__file__).resolve().parents[3] / "sim" / "harness" / "scenarios"

GOOD = """
[scenario]
name = "t"
duration_s = 10
max_recovery_ms = 500
[desk]
contracts = 100
instruments = "data:cn_futopt_instruments_20171113.csv"
replay = "tapes/day.tape"
[clients]
probes = 2
groups = ["rb"]
[[fault]]
at_s = 5
kind = "stall"
target = "market/group/rb"
duration_ms = 300
[[fault]]
at_s = 1
kind = "crash"
target = "session:probe1"
"""


def _report(**overrides) -> SimReport:
    fields = dict(scenario="t", seed=1, duration_s=10, max_recovery_ms=1000, faults_injected=1,
                  faults=[FaultOutcome(0, 1.0, "crash", "market/group/rb", "recovered", 12.5)],
                  restarts=1, frames_conflated=0, seq_gaps=0, seq_gaps_healed=0, frames_received=10,
                  ticks_emitted=100)
    fields.update(overrides)
    return judge(SimReport(**fields))


def test_parse_scenario_when_valid_then_faults_sorted_and_references_resolved(tmp_path: Path) -> None:
    """Faults come back in time order; data: and relative references resolve; defaults fill the rest."""
    scenario = parse_scenario(GOOD, tmp_path / "t.toml")
    assert [f.kind for f in scenario.faults] == ["crash", "stall"]
    assert scenario.faults[1].duration_ms == 300 and scenario.faults[0].duration_ms == 500
    assert scenario.clients.groups == ("rb",) and scenario.max_recovery_ms == 500
    assert scenario.resolve(scenario.desk.replay) == str(tmp_path / "tapes" / "day.tape")
    assert scenario.resolve(scenario.desk.instruments).endswith("data/cn_futopt_instruments_20171113.csv")


@pytest.mark.parametrize(("edit", "where"), [
    (('kind = "stall"', 'kind = "meteor"'), "fault[0]"),
    (('target = "market/group/rb"\nduration_ms = 300', 'duration_ms = 300'), "fault[0]"),
    (("at_s = 5", "at_s = 50"), "fault[0]"),
    (("duration_ms = 300", "duration_ms = 0"), "fault[0]"),
    (("probes = 2", "probes = 2\nspies = 1"), "[clients]"),
    (("contracts = 100", "contract = 100"), "[desk]"),
    (("[scenario]", "[scenery]"), "file"),
    (("duration_s = 10", "duration_s = -1"), "[scenario]"),
])
def test_parse_scenario_when_something_is_wrong_then_raises_naming_where(edit: tuple[str, str], where: str) -> None:
    """An unknown kind, a missing target, a fault past the end, bad keys or tables raise ScenarioError."""
    with pytest.raises(ScenarioError) as raised:
        parse_scenario(GOOD.replace(*edit), "bad.toml")
    assert raised.value.where == where
    assert isinstance(raised.value, ValueError)


def test_load_scenario_when_file_missing_then_raises_scenario_error(tmp_path: Path) -> None:
    """A missing file is a ScenarioError, not an OSError escaping the CLI."""
    with pytest.raises(ScenarioError):
        load_scenario(tmp_path / "absent.toml")


def test_shipped_scenarios_when_parsed_then_valid_and_matrix_names_every_kind() -> None:
    """Every file in sim/harness/scenarios parses; matrix.toml holds every kind; one file per kind exists."""
    scenarios = {path.stem: load_scenario(path) for path in SCENARIOS.glob("*.toml")}
    assert {f.kind for f in scenarios["matrix"].faults} == set(FAULT_KINDS)
    for kind in FAULT_KINDS:
        assert kind.replace("_", "-") in scenarios, kind
    assert scenarios["trading-day"].desk.replay.endswith("cn_futopt_l1_20171113.csv.gz")


def test_judge_when_everything_recovered_then_passes() -> None:
    """A recovered fault, no order lost and a live process pass; the printed form ends with PASS."""
    report = _report()
    assert report.passed and report.failures == []
    assert report.render().splitlines()[-1] == "PASS"


@pytest.mark.parametrize(("overrides", "reason"), [
    ({"orders_lost": 1}, "orders_lost=1"),
    ({"orders_duplicated": 2}, "orders_duplicated=2"),
    ({"unknown_outcomes_unresolved": 1}, "unknown_outcomes_unresolved=1"),
    ({"process_alive": False}, "process not alive"),
    ({"faults": [FaultOutcome(0, 1.0, "stall", "x", "recovered", 1500.0)]}, "recovered in 1500 ms"),
    ({"faults": [FaultOutcome(0, 1.0, "drop", "x", "unrecovered", None, "no frame")]}, "unrecovered"),
])
def test_judge_when_a_bound_is_broken_then_fails_saying_which(overrides: dict, reason: str) -> None:
    """Each broken bound fails the run and is named in the failures and the FAIL line."""
    report = _report(**overrides)
    assert not report.passed
    assert any(reason in failure for failure in report.failures)
    assert report.render().splitlines()[-1].startswith("FAIL")


def test_judge_when_optional_fault_skipped_then_listed_but_not_failed(tmp_path: Path) -> None:
    """A skipped NATS disconnect marked optional does not fail the run; the JSON report lists it."""
    import json

    skipped = FaultOutcome(1, 2.0, "nats_disconnect", "", "skipped", None, "no NATS", optional=True)
    report = _report(faults=[*_report().faults, skipped])
    assert report.passed
    report.write(tmp_path / "r.json")
    assert json.loads((tmp_path / "r.json").read_text())["faults"][1]["status"] == "skipped"


def test_judge_when_fault_skipped_and_not_optional_then_fails_naming_it() -> None:
    """A fault that could not apply fails the run unless the scenario says it is optional."""
    skipped = FaultOutcome(1, 2.0, "nats_disconnect", "", "skipped", None, "no NATS")
    report = _report(faults=[*_report().faults, skipped])
    assert not report.passed
    assert report.failures == ["fault 1 (nats_disconnect) skipped: no NATS (mark it optional = true to allow that)"]


def test_parse_when_optional_not_a_boolean_then_scenario_error() -> None:
    """optional must be a TOML boolean."""
    from sim.errors import ScenarioError

    with pytest.raises(ScenarioError, match="optional"):
        parse_scenario('[[fault]]\nat_s = 1\nkind = "nats_disconnect"\noptional = "yes"\n', "o.toml")


def test_order_figures_when_books_and_exchange_counts_then_lost_duplicated_and_unknown_follow() -> None:
    """No reply nor state is lost; sends past one per reference are duplicates; unsettled unknowns count."""
    from sim.exchange import ExchangeStatistics
    from sim.harness.traders import OrderBook, TraderClient, order_figures

    trader = TraderClient("t", "ws://unused", "token", "acct-01", quotes=[])
    trader.books = {"a": OrderBook(1, "accepted", "filled"), "b": OrderBook(2, "rejected", "rejected"),
                    "c": OrderBook(5, "", ""), "d": OrderBook(1, "outcomeUnknown", "outcomeUnknown"),
                    "e": OrderBook(1, "outcomeUnknown", "working")}
    stats = ExchangeStatistics(orders_received=5, distinct_references=4, most_per_reference=2, accepted=4,
                               rejected=0, unanswered=1, fills=1, cancels=0)
    assert order_figures([trader], stats) == {
        "orders_submitted": 5, "orders_at_gateway": 4, "orders_duplicated": 1, "orders_lost": 1,
        "unknown_outcomes_unresolved": 1, "order_retries": 5}


def test_scenario_toml_when_written_then_parses_back_to_the_same_desk_clients_and_faults(tmp_path: Path) -> None:
    """scenario_toml writes what parse_scenario reads: every field, odd strings and tuples included."""
    from sim.harness.scenario import ClientsSpec, DeskSpec, FaultSpec, scenario_toml

    desk = DeskSpec(contracts=60, rate=60.0, seed=11, replay='/data/a "b" ü.csv', nats=True)
    clients = ClientsSpec(probes=2, groups=("rb", "m_o"))
    faults = (FaultSpec(0.5, "crash", "market/group/rb"),
              FaultSpec(2.25, "stall", "market/group/m_o", duration_ms=250, groups=("rb",), optional=True))
    text = scenario_toml("replayed", 9.0, desk, faults, clients, seed=3, comment="line one\nline two")
    scenario = parse_scenario(text, tmp_path / "x.toml")
    assert (scenario.name, scenario.duration_s, scenario.seed) == ("replayed", 9.0, 3)
    assert (scenario.desk, scenario.clients, scenario.faults) == (desk, clients, faults)
    assert text.startswith("# line one\n# line two\n")


def test_desk_loop_when_set_then_the_desk_replays_the_tape_again_at_its_end(tmp_path: Path) -> None:
    """``[desk] loop`` reaches the simulator's ``loop`` setting (the soak judges the day's second pass); it is
    off unless a scenario turns it on, and the shipped trading day turns it on."""
    from sim.harness.runner import _desk_config

    looped = parse_scenario(GOOD.replace("[desk]\n", "[desk]\nloop = true\n"))
    assert looped.desk.loop is True and parse_scenario(GOOD).desk.loop is False
    assert _desk_config(looped, "s" * 32, tmp_path).sim["loop"] is True
    assert load_scenario(SCENARIOS / "trading-day.toml").desk.loop is True


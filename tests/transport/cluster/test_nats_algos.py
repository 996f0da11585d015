"""vn.py algos through an edge node (issue 15): commands on algo.command.<account>, progress on
algo.progress.1s.<job> from the venue-host, delivered to the traders of the job's account only."""

from __future__ import annotations

import asyncio

import pytest

from tests.transport.conftest import is_message
from tests.transport.orders_kit import last_price, orders_config, token, venue, venue_setting
from transport.cluster import subjects

pytestmark = pytest.mark.nats

SYMBOL = "rb1801.SHFE"


def _start(job_id: str, price: float, account: str = "acct-01") -> dict:
    return {"startAlgo": {"jobId": job_id, "account": account, "template": "TwapAlgo", "vtSymbol": SYMBOL,
                          "direction": "long", "offset": "open", "price": price, "volumeLots": 6.0,
                          "settings": [{"key": "time", "value": "6"}, {"key": "interval", "value": "1"}]}}


@pytest.fixture
async def host_and_edge(nats_url, data_dir, jwt_secret, start_desk, tmp_path):
    """A venue-host replaying real ticks (vn.py, the order path, the algo engine) and an edge node."""
    host = await start_desk(jwt_secret=jwt_secret, role="venue-host", nats=(nats_url,),
                            replay=(str(data_dir / "cn_futopt_l1_20171113_0900-1000.csv.gz"),),
                            orders=orders_config(tmp_path), sim=venue_setting())
    edge = await start_desk(jwt_secret=jwt_secret, role="edge", nats=(nats_url,), orders=orders_config(tmp_path))
    return host, edge


async def test_twap_through_edge_when_started_then_progress_each_second_until_finished_for_its_trader_only(
        host_and_edge, open_socket, jwt_secret):
    """A TWAP started on an edge node runs on the venue-host: the ack comes back, algoProgress arrives about every
    second (published on algo.progress.1s.<job>) until finished with every lot; pause and resume go through too;
    a trader of another account on the same edge never sees the job's progress."""
    host, edge = host_and_edge
    last = await last_price(host)
    tick = host.bridge.quote(SYMBOL).price_tick
    price = round(last * 1.03 / tick) * tick
    owner = await open_socket(edge, token(jwt_secret, "trader1", ["acct-01"]))
    other = await open_socket(edge, token(jwt_secret, "trader2", ["acct-02"]))
    await other.send(subscribe={"groups": ["rb"]})   # a socket that reads all along

    await owner.send(**_start("twap-edge-1", price))
    ack = await owner.recv_until(is_message("ack", of="startAlgo"), timeout_s=10)
    assert ack["detail"] == "twap-edge-1"
    await owner.send(pauseAlgo={"jobId": "twap-edge-1", "account": "acct-01"})
    await owner.recv_until(is_message("ack", of="pauseAlgo"), timeout_s=10)
    await owner.recv_until(is_message("algoProgress", jobId="twap-edge-1", status="paused"), timeout_s=10)
    await owner.send(resumeAlgo={"jobId": "twap-edge-1", "account": "acct-01"})
    await owner.recv_until(is_message("ack", of="resumeAlgo"), timeout_s=10)
    seen: list[dict] = []
    final = await owner.recv_until(lambda m: m["which"] == "algoProgress" and seen.append(m) is None
                                   and m["status"] == "finished", timeout_s=30)
    assert final["tradedLots"] == 6 and final["account"] == "acct-01"
    running = [m for m in seen if m["status"] == "running"]
    assert len(running) >= 4   # one a second over the 6 s of the TWAP, counted, not timed
    assert host.links.algos.progress_published >= len(seen)
    assert edge.links.algos.statistics_dict()["algo_progress_received"] >= len(seen)
    assert venue(host).statistics().orders_received >= 2
    assert edge.links.algos.statistics_dict()["algo_jobs_running"] == 0   # ended with its last progress

    await other.send(ping={"clientTsNs": 1})   # everything sent to it so far is before the pong
    before_pong: list[dict] = []
    await other.recv_until(lambda m: before_pong.append(m) is None and m["which"] == "pong", timeout_s=10)
    assert not [m for m in before_pong if m["which"] == "algoProgress"]


async def test_algo_progress_when_trader_opens_another_edge_then_their_running_job_shows_there_too(
        host_and_edge, open_socket, jwt_secret, nats_url, start_desk, tmp_path):
    """A job started through one edge reaches its trader on another edge (the first died, or a second screen)
    without any command sent there; a trader of another account on that edge never sees it."""
    host, edge = host_and_edge
    other_edge = await start_desk(jwt_secret=jwt_secret, role="edge", nats=(nats_url,), orders=orders_config(tmp_path))
    last = await last_price(host)
    tick = host.bridge.quote(SYMBOL).price_tick
    owner = await open_socket(edge, token(jwt_secret, "trader1", ["acct-01"]))
    await owner.send(**_start("twap-edge-2", round(last * 1.03 / tick) * tick))
    await owner.recv_until(is_message("ack", of="startAlgo"), timeout_s=10)
    moved = await open_socket(other_edge, token(jwt_secret, "trader1", ["acct-01"]))
    stranger = await open_socket(other_edge, token(jwt_secret, "trader2", ["acct-02"]))
    progress = await moved.recv_until(is_message("algoProgress", jobId="twap-edge-2"), timeout_s=10)
    assert progress["account"] == "acct-01"
    await stranger.send(ping={"clientTsNs": 1})
    before_pong: list[dict] = []
    await stranger.recv_until(lambda m: before_pong.append(m) is None and m["which"] == "pong", timeout_s=10)
    assert not [m for m in before_pong if m["which"] == "algoProgress"]
    await owner.send(stopAlgo={"jobId": "twap-edge-2", "account": "acct-01"})
    await moved.recv_until(is_message("algoProgress", jobId="twap-edge-2", status="stopped"), timeout_s=10)


async def test_algo_command_when_account_not_granted_then_forbidden_by_the_edge_and_by_the_host(
        host_and_edge, open_socket, jwt_secret, nats_url):
    """A session refuses another account's job; a forged request on NATS is refused by the algo host too."""
    from actors.orders.codec import encode_order_command
    from transport.cluster.nats_bus import NatsBus
    from transport.edge.client import client_message, read_server_message

    host, edge = host_and_edge
    client = await open_socket(edge, token(jwt_secret, "trader2", ["acct-02"]))
    await client.send(**_start("not-mine", 3900.0))
    error = await client.recv_until(is_message("error"), timeout_s=10)
    assert error["code"] == "forbidden"
    await client.send(stopAlgo={"jobId": "someone-elses", "account": "acct-02"})   # reaches the host, refused
    refused = await client.recv_until(is_message("error"), timeout_s=10)
    assert refused["code"] == "forbidden" and "someone-elses" in refused["message"]
    assert edge.links.algos.statistics_dict()["algo_jobs_running"] == 0   # a refused job never runs
    bus = NatsBus([nats_url], name="rogue")
    await bus.connect()
    try:
        start = client_message(1, **_start("forged", 3900.0))
        data = encode_order_command("sessions/session/1", "trader2", start, "rogue", 0, ("acct-02",), False)
        reply = read_server_message(await bus.request(subjects.algo_command("acct-01"), data, timeout_s=5))
    finally:
        await bus.close()
    assert reply["which"] == "error" and reply["code"] == "forbidden", reply
    assert host.algos.jobs == {} and host.links.algos.forbidden == 1


def test_job_token_when_job_id_not_a_subject_token_then_a_stable_digest():
    """A jobId that is a subject token is its own; one with dots or spaces gets the same digest on every node."""
    assert subjects.job_token("twap-1") == "twap-1"
    assert subjects.job_token("a.b c") == subjects.job_token("a.b c") != subjects.job_token("a.b d")
    assert subjects.algo_progress(subjects.job_token("a.b c")).count(".") == 3


async def test_twap_through_edge_process_when_started_then_finished_with_progress_each_second(
        nats_url, tmp_path, data_dir, open_socket):
    """The same across real processes: a ``tickstage run`` venue-host (replaying rb1801 at 1×, first price 3,863)
    and a ``tickstage run`` edge node on one nats-server; a TWAP started through the edge finishes with every lot,
    its progress about every second; the other trader on the edge never sees it."""
    from perf.nodes import NodeProcess
    from tests.conftest import JWT_SECRET

    replay = str(data_dir / "cn_futopt_l1_20171113_0900-1000.csv.gz")
    host = NodeProcess(tmp_path, "host", "venue-host", [nats_url], JWT_SECRET, "--replay", replay, "--speed", "1")
    edge = NodeProcess(tmp_path, "edge", "edge", [nats_url], JWT_SECRET)
    try:
        await host.wait_healthy()
        await edge.wait_healthy()
        owner = await open_socket(edge, token(JWT_SECRET, "trader1", ["acct-01"]))
        other = await open_socket(edge, token(JWT_SECRET, "trader2", ["acct-02"]))
        for attempt in range(50):   # the venue-host's vn.py may still be connecting: an unknown contract is refused
            await owner.send(**_start("twap-proc-1", 3979.0))
            answer = await owner.recv_until(lambda m: m["which"] in ("ack", "error"), timeout_s=10)
            if answer["which"] == "ack" or answer["code"] != "unknownContract":
                break
            await asyncio.sleep(0.2)
        assert answer["which"] == "ack" and answer["detail"] == "twap-proc-1", answer
        seen: list[dict] = []
        final = await owner.recv_until(lambda m: m["which"] == "algoProgress" and seen.append(m) is None
                                       and m["status"] in ("finished", "stopped", "paused"), timeout_s=30)
        assert final["status"] == "finished" and final["tradedLots"] == 6, final
        assert len([m for m in seen if m["status"] == "running"]) >= 4
        await other.send(ping={"clientTsNs": 1})
        before_pong: list[dict] = []
        await other.recv_until(lambda m: before_pong.append(m) is None and m["which"] == "pong", timeout_s=10)
        assert not [m for m in before_pong if m["which"] == "algoProgress"]
    finally:
        edge.stop()
        host.stop()

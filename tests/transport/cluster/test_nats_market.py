"""Frames across NATS: an aggregating desk publishes, an edge desk fans out to its sockets."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

import schemas
from transport.cluster.nats_market import MarketSubscriber
from transport.process.app import Desk, DeskConfig
from transport.signin.auth import mint_token
from transport.errors import ConfigError


def _is(which, **fields):
    return lambda m: m["which"] == which and all(m.get(k) == v for k, v in fields.items())


@pytest.fixture
async def two_desks(data_dir, jwt_secret, nats_url):
    """An `all` desk replaying real ticks and publishing on NATS, and an `edge` desk fed from NATS."""
    replay = (str(data_dir / "cn_futopt_l1_20171113_0900-1000.csv.gz"),)
    publisher = Desk(DeskConfig(port=0, replay=replay, speed=20.0, jwt_secret=jwt_secret, progress_interval_s=0,
                                nats=(nats_url,)))
    edge = Desk(DeskConfig(port=0, jwt_secret=jwt_secret, progress_interval_s=0, role="edge",
                              nats=(nats_url,)))
    try:
        await publisher.start()
        await edge.start()
        yield publisher, edge
    finally:
        await edge.stop()
        await publisher.stop()


async def _client(http, desk, jwt_secret, ws_client_type):
    ws = await http.ws_connect(f"ws://127.0.0.1:{desk.port}/ws", max_msg_size=64 * 1024 * 1024)
    client = ws_client_type(ws)
    await client.send(auth={"token": mint_token(jwt_secret, "trader1")})
    assert (await client.recv())["which"] == "ack"
    return client


async def test_edge_node_when_subscribed_then_same_frames_and_seq_as_aggregating_node(
        two_desks, jwt_secret, ws_client_type):
    """A client of the edge node gets rb's info, a snapshot and deltas with the publisher's seq."""
    publisher, edge = two_desks
    async with aiohttp.ClientSession() as http:
        local = await _client(http, publisher, jwt_secret, ws_client_type)
        remote = await _client(http, edge, jwt_secret, ws_client_type)
        await local.send(subscribe={"groups": ["rb"]})
        await local.recv_until(_is("groupFrame", group="rb", kind="delta"))
        async with asyncio.timeout(10):
            while "rb" not in edge.groups():
                await asyncio.sleep(0.02)
        await remote.send(subscribe={"groups": ["rb"]})
        info = await remote.recv_until(_is("groupInfo", group="rb"), timeout_s=10)
        assert "rb1801.SHFE" in [i["vtSymbol"] for i in info["instruments"]]
        await remote.recv_until(_is("groupFrame", group="rb", kind="snapshot"), timeout_s=10)
        remote_seqs = [(await remote.recv_until(_is("groupFrame", group="rb", kind="delta")))["seq"]
                       for _ in range(5)]
        local_seqs = set()
        while len(local_seqs) < 200 and max(local_seqs, default=0) < max(remote_seqs):
            local_seqs.add((await local.recv_until(_is("groupFrame", group="rb")))["seq"])
        assert set(remote_seqs) & local_seqs
        assert remote_seqs == sorted(remote_seqs)
        await local.ws.close()
        await remote.ws.close()


async def test_edge_node_when_entitlements_mask_a_field_then_fail_closed_with_source_down_and_no_frame(
        two_desks, jwt_secret, ws_client_type):
    """Frames reach an edge node encoded for the unmasked class: a socket whose ent claim masks SHFE's open
    interest gets rb's info and sourceDown naming the reason, never a frame; an unmasked one gets frames."""
    publisher, edge = two_desks
    async with aiohttp.ClientSession() as http:
        async with asyncio.timeout(10):
            while "rb" not in edge.groups():
                await asyncio.sleep(0.02)
        ws = await http.ws_connect(f"ws://127.0.0.1:{edge.port}/ws", max_msg_size=64 * 1024 * 1024)
        narrow = ws_client_type(ws)
        await narrow.send(auth={"token": mint_token(jwt_secret, "bob", entitlements={"SHFE": ["l1"],
                                                                                      "*": ["l1", "oi"]})})
        full = await _client(http, edge, jwt_secret, ws_client_type)
        await full.send(subscribe={"groups": ["rb"]})
        await full.recv_until(_is("groupFrame", group="rb", kind="delta"), timeout_s=10)
        await narrow.send(subscribe={"groups": ["rb"]})
        status = await narrow.recv_until(lambda m: m["which"] in ("groupStatus", "groupFrame")
                                         and m.get("group") == "rb" and m.get("state") != "live", timeout_s=10)
        assert status["which"] == "groupStatus" and status["state"] == "sourceDown"
        assert "entitlements" in status["reason"]
        for _ in range(20):  # frames keep flowing to the unmasked socket, none to the masked one
            await full.recv_until(_is("groupFrame", group="rb"), timeout_s=10)
        while True:
            try:
                message = await narrow.recv(timeout_s=0.5)
            except TimeoutError:
                break
            assert message["which"] != "groupFrame", message
        await narrow.ws.close()
        await full.ws.close()


def test_edge_role_when_no_nats_then_config_error():
    """An edge node without NATS has nowhere to get its groups from."""
    with pytest.raises(ConfigError):
        Desk(DeskConfig(role="edge"))


async def test_cluster_when_one_server_killed_then_edge_clients_keep_receiving(
        data_dir, jwt_secret, nats_cluster, ws_client_type):
    """With a 3-node cluster, killing the publisher's server does not stop the stream (it learns the others)."""
    urls, processes = nats_cluster
    replay = (str(data_dir / "cn_futopt_l1_20171113_0900-1000.csv.gz"),)
    publisher = Desk(DeskConfig(port=0, replay=replay, speed=20.0, jwt_secret=jwt_secret, progress_interval_s=0,
                                nats=(urls[0],)))
    edge = Desk(DeskConfig(port=0, jwt_secret=jwt_secret, progress_interval_s=0, role="edge",
                              nats=(urls[1], urls[2])))
    try:
        await publisher.start()
        await edge.start()
        async with aiohttp.ClientSession() as http:
            remote = await _client(http, edge, jwt_secret, ws_client_type)
            async with asyncio.timeout(10):
                while "rb" not in edge.groups():
                    await asyncio.sleep(0.02)
            await remote.send(subscribe={"groups": ["rb"]})
            await remote.recv_until(_is("groupFrame", group="rb", kind="delta"), timeout_s=10)
            processes[0].terminate()
            processes[0].wait(timeout=10)
            async with asyncio.timeout(15):
                while publisher.bus.statistics().reconnects < 1:
                    await asyncio.sleep(0.02)
            before = (await remote.recv_until(_is("groupFrame", group="rb", kind="delta"), timeout_s=10))["seq"]
            after = (await remote.recv_until(
                lambda m: m["which"] == "groupFrame" and m["group"] == "rb" and m["seq"] > before, timeout_s=10))
            assert after["seq"] > before
            assert publisher.bus.statistics().connected
            await remote.ws.close()
    finally:
        await edge.stop()
        await publisher.stop()


class _Runtime:
    """The two things MarketSubscriber asks of a runtime: is the group's actor there, and tell it."""

    def __init__(self) -> None:
        self.registry = {"market/group/rb"}
        self.told: list[bytes] = []

    def tell_path(self, path: str, payload: bytes) -> None:
        self.told.append(payload)


class _Msg:
    def __init__(self, epoch: int) -> None:
        message = schemas.stream.ServerMessage.new_message()
        status = message.init("groupStatus")
        status.group, status.epoch = "rb", epoch
        self.data = message.to_bytes()


def test_subscriber_when_newest_epoch_silent_past_reset_then_a_lower_epoch_is_the_new_one():
    """A lower epoch is dropped while the newest one speaks (an old leader, paused then resumed); once the newest
    has been silent past ``reset_after_s`` it is an epoch reset (the lease bucket began again from revision 1) and
    becomes the group's epoch, instead of every later frame being dropped forever."""
    now = [100.0]
    runtime = _Runtime()
    subscriber = MarketSubscriber(runtime, bus=None, source_timeout_s=0.8, reset_after_s=1.2, clock=lambda: now[0])
    subscriber._on_frame(_Msg(57))
    now[0] += 1.0
    subscriber._on_frame(_Msg(3))            # the newest spoke 1.0 s ago: an old leader, dropped
    assert (subscriber.stale_epoch_dropped, subscriber.epoch_resets, subscriber.epochs["rb"]) == (1, 0, 57)
    now[0] += 0.5
    subscriber._on_frame(_Msg(57))           # still speaking
    now[0] += 1.3
    subscriber._on_frame(_Msg(1))            # 57 silent for 1.3 s > 1.2 s: a reset
    now[0] += 0.1
    subscriber._on_frame(_Msg(1))
    assert (subscriber.stale_epoch_dropped, subscriber.epoch_resets) == (1, 1)
    assert len(runtime.told) == 4 and subscriber.epochs["rb"] == 1

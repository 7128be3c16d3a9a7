"""SimulatedWard against a real MLLP server: many beds, one connection each, cables pulled."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator

import pytest
from sim_scripted_gateway import ScriptedGateway
from waiting import eventually

from gateway.clock import ManualClock
from simulators.ward import SimulatedWard


def locations(gateway: ScriptedGateway) -> list[str]:
    return [pv1.raw(3) for m in gateway.received if (pv1 := m.first("PV1")) is not None]


def senders(gateway: ScriptedGateway) -> set[str]:
    return {m.msh.get(3, 2) for m in gateway.received}


@contextlib.asynccontextmanager
async def running(ward: SimulatedWard) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(ward.run())
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def fast_ward(port: int, beds: int = 3, period_s: float = 0.1) -> SimulatedWard:
    return SimulatedWard(
        "127.0.0.1",
        port,
        beds=beds,
        seed=1,
        period_s=period_s,
        backoff_initial_s=0.02,
        backoff_max_s=0.1,
    )


async def test_three_beds_report_from_three_locations_each_on_its_own_connection() -> None:
    async with ScriptedGateway() as gateway:
        ward = fast_ward(gateway.port)
        async with running(ward):
            await eventually(lambda: len(gateway.received) >= 9)
            assert set(locations(gateway)) == {"ICU^1^1", "ICU^2^1", "ICU^3^1"}
            assert len(senders(gateway)) == 3
            assert gateway.connections_opened == 3
            assert all(m.counters.acked >= 1 for m in ward.monitors)
            assert all(m.last_ack == "CA" for m in ward.monitors if m.counters.acked)
        await eventually(lambda: gateway.open_connections == 0)
    assert asyncio.all_tasks() == {asyncio.current_task()}


async def test_beds_are_spread_over_the_period_not_in_lockstep() -> None:
    async with ScriptedGateway() as gateway:
        async with running(fast_ward(gateway.port, period_s=0.6)):
            await eventually(lambda: len(gateway.received) >= 3)
        # Bed i starts i/3 of a period after bed 0: the first round comes in bed order.
        assert locations(gateway)[:3] == ["ICU^1^1", "ICU^2^1", "ICU^3^1"]


async def test_control_ids_are_unique_per_monitor() -> None:
    async with ScriptedGateway() as gateway:
        async with running(fast_ward(gateway.port)):
            await eventually(lambda: len(gateway.received) >= 12)
        ids = gateway.control_ids()
        assert len(set(ids)) == len(ids)


async def test_a_pulled_cable_closes_that_beds_connection_and_only_that_one() -> None:
    async with ScriptedGateway() as gateway:
        ward = fast_ward(gateway.port)
        async with running(ward):
            await eventually(lambda: gateway.open_connections == 3 and len(gateway.received) >= 3)
            ward.stop_bed(1)
            assert not ward.bed_running(1)
            await eventually(lambda: gateway.open_connections == 2)
            seen = len(gateway.received)
            await eventually(lambda: len(gateway.received) >= seen + 6)
            assert "ICU^2^1" not in locations(gateway)[seen:]
            assert {"ICU^1^1", "ICU^3^1"} <= set(locations(gateway)[seen:])

            ward.start_bed(1)
            seen = len(gateway.received)
            await eventually(lambda: "ICU^2^1" in locations(gateway)[seen:])
            assert gateway.connections_opened == 4
            assert ward.monitors[1].counters.reconnects == 1


async def test_monitors_keep_retrying_until_the_gateway_comes_up() -> None:
    with socket.socket() as probe:  # a port nobody listens on yet
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    ward = fast_ward(port)
    async with running(ward) as task:
        await eventually(lambda: all(m.counters.connect_failures >= 2 for m in ward.monitors))
        assert not task.done()
        gateway = ScriptedGateway()
        await gateway.start(port)
        try:
            await eventually(lambda: len(set(locations(gateway))) == 3)
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await gateway.stop()


async def test_message_times_come_from_the_wards_clock() -> None:
    clock = ManualClock(1_700_000_000 * 1_000_000_000)
    async with ScriptedGateway() as gateway:
        ward = SimulatedWard("127.0.0.1", gateway.port, beds=1, period_s=0.05, clock=clock)
        async with running(ward):
            await eventually(lambda: len(gateway.received) >= 2)
        assert {m.msh.get(7) for m in gateway.received} == {"20231114221320+0000"}


def test_bed_indexes_are_checked() -> None:
    ward = SimulatedWard("127.0.0.1", 9, beds=2)
    with pytest.raises(IndexError):
        ward.stop_bed(2)
    with pytest.raises(IndexError):
        ward.start_bed(-1)

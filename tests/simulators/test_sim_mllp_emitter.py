"""MllpEmitter against a real MLLP server on loopback: ACK matching, resends, reconnects."""

from __future__ import annotations

import asyncio

import pytest
from sim_scripted_gateway import DropConnection, ScriptedGateway, ack
from waiting import eventually

from adapters.hl7 import er7
from simulators.mllp_emitter import DeliveryFailed, MllpEmitter
from simulators.pcd01 import encode_oru_r01, ward_profiles
from simulators.physiology import Patient

NOW_NS = 1_700_000_000 * 1_000_000_000
DEVICE, BED = ward_profiles(1, seed=3)[0]


def oru(control_id: str) -> bytes:
    vitals = Patient(1).step(NOW_NS / 1e9)
    return encode_oru_r01(vitals, device=DEVICE, bed=BED, control_id=control_id, now_ns=NOW_NS)


def fast_emitter(port: int, **options: float) -> MllpEmitter:
    settings = {"ack_timeout_s": 2.0, "backoff_initial_s": 0.02, "backoff_max_s": 0.1}
    settings.update(options)
    return MllpEmitter("127.0.0.1", port, **settings)  # type: ignore[arg-type]


async def test_send_waits_for_the_ack_and_returns_its_code() -> None:
    release = asyncio.Event()

    async def slow_commit(message: er7.Message, nth: int) -> list[bytes]:
        await release.wait()
        return [ack("CA", message.control_id)]

    async with ScriptedGateway(slow_commit) as gateway, fast_emitter(gateway.port) as emitter:
        sending = asyncio.create_task(emitter.send(oru("MSG1")))
        await eventually(lambda: len(gateway.received) == 1)
        await asyncio.sleep(0.05)
        assert not sending.done()
        release.set()
        assert await sending == "CA"
        assert emitter.counters.acked == 1
        assert emitter.counters.sent == 1


async def test_many_messages_share_one_persistent_connection() -> None:
    async with ScriptedGateway() as gateway, fast_emitter(gateway.port) as emitter:
        codes = [await emitter.send(oru(f"MSG{n}")) for n in range(20)]
        assert codes == ["CA"] * 20
        assert gateway.connections_opened == 1
        assert gateway.control_ids() == [f"MSG{n}" for n in range(20)]
        assert emitter.counters.connects == 1
        assert emitter.counters.reconnects == 0


async def test_an_ack_for_another_control_id_is_skipped_not_matched() -> None:
    async def late_reject_then_accept(message: er7.Message, nth: int) -> list[bytes]:
        # A late reject for an earlier message arrives first: taking it for this message
        # would drop a message the gateway accepted.
        return [ack("AR", "EARLIER-MESSAGE"), ack("AA", message.control_id)]

    async with (
        ScriptedGateway(late_reject_then_accept) as gateway,
        fast_emitter(gateway.port) as emitter,
    ):
        assert await emitter.send(oru("MSG1")) == "AA"
        assert emitter.counters.stray == 1
        assert emitter.counters.rejected == 0


async def test_a_duplicate_ack_left_over_is_not_taken_for_the_next_message() -> None:
    async def ack_twice(message: er7.Message, nth: int) -> list[bytes]:
        if message.control_id == "MSG1":
            return [ack("CA", "MSG1"), ack("CA", "MSG1")]
        return [ack("CE", message.control_id)] if nth == 1 else [ack("CA", message.control_id)]

    async with ScriptedGateway(ack_twice) as gateway, fast_emitter(gateway.port) as emitter:
        assert await emitter.send(oru("MSG1")) == "CA"
        # MSG2's first answer is CE; the spare CA of MSG1 must not settle MSG2 early.
        assert await emitter.send(oru("MSG2")) == "CA"
        assert gateway.times_received["MSG2"] == 2
        assert emitter.counters.stray == 1


async def test_application_error_is_resent_at_most_three_tries_in_all() -> None:
    async def always_error(message: er7.Message, nth: int) -> list[bytes]:
        return [ack("AE", message.control_id)]

    async with ScriptedGateway(always_error) as gateway, fast_emitter(gateway.port) as emitter:
        assert await emitter.send(oru("MSG1")) == "AE"
        assert gateway.control_ids() == ["MSG1"] * 3
        assert (emitter.counters.sent, emitter.counters.resent) == (3, 2)
        assert emitter.counters.errors == 3
        assert emitter.counters.acked == 0


async def test_a_resend_that_is_accepted_settles_the_message() -> None:
    async def error_then_accept(message: er7.Message, nth: int) -> list[bytes]:
        return [ack("CE" if nth < 3 else "CA", message.control_id)]

    async with ScriptedGateway(error_then_accept) as gateway, fast_emitter(gateway.port) as em:
        assert await em.send(oru("MSG1")) == "CA"
        assert gateway.times_received["MSG1"] == 3
        assert em.counters.acked == 1


@pytest.mark.parametrize("code", ["AR", "CR"])
async def test_a_reject_is_not_resent(code: str) -> None:
    async def reject(message: er7.Message, nth: int) -> list[bytes]:
        return [ack(code, message.control_id)]

    async with ScriptedGateway(reject) as gateway, fast_emitter(gateway.port) as emitter:
        assert await emitter.send(oru("MSG1")) == code
        assert await emitter.send(oru("MSG2")) == code
        assert gateway.control_ids() == ["MSG1", "MSG2"]
        assert emitter.counters.rejected == 2
        assert emitter.counters.resent == 0


async def test_no_ack_in_time_resends_the_same_message() -> None:
    async def ignore_first_copy(message: er7.Message, nth: int) -> list[bytes]:
        return [] if nth == 1 else [ack("CA", message.control_id)]

    async with (
        ScriptedGateway(ignore_first_copy) as gateway,
        fast_emitter(gateway.port, ack_timeout_s=0.2) as emitter,
    ):
        assert await emitter.send(oru("MSG1")) == "CA"
        assert gateway.control_ids() == ["MSG1", "MSG1"]
        assert emitter.counters.timeouts == 1
        assert emitter.counters.resent == 1
        assert gateway.connections_opened == 1


async def test_no_ack_after_three_tries_fails_and_drops_the_link() -> None:
    async def silent(message: er7.Message, nth: int) -> list[bytes]:
        return []

    async with (
        ScriptedGateway(silent) as gateway,
        fast_emitter(gateway.port, ack_timeout_s=0.1) as emitter,
    ):
        with pytest.raises(DeliveryFailed) as failure:
            await emitter.send(oru("MSG1"))
        assert failure.value.tries == 3
        assert gateway.control_ids() == ["MSG1"] * 3
        assert emitter.counters.failed == 1
        assert not emitter.connected
        await eventually(lambda: gateway.open_connections == 0)


async def test_a_dropped_connection_is_remade_and_the_message_resent() -> None:
    async def drop_first_copy(message: er7.Message, nth: int) -> list[bytes]:
        if nth == 1:
            raise DropConnection
        return [ack("CA", message.control_id)]

    async with ScriptedGateway(drop_first_copy) as gateway, fast_emitter(gateway.port) as em:
        assert await em.send(oru("MSG1")) == "CA"
        assert gateway.control_ids() == ["MSG1", "MSG1"]
        assert gateway.connections_opened == 2
        assert em.counters.reconnects == 1


async def test_reconnects_with_backoff_after_the_gateway_restarts_on_the_same_port() -> None:
    gateway = ScriptedGateway()
    port = await gateway.start()
    async with fast_emitter(port) as emitter:
        assert await emitter.send(oru("MSG1")) == "CA"
        await gateway.stop()
        sending = asyncio.create_task(emitter.send(oru("MSG2")))
        await eventually(lambda: emitter.counters.connect_failures >= 2)
        assert not sending.done()
        restarted = ScriptedGateway()
        await restarted.start(port)
        try:
            assert await sending == "CA"
            assert restarted.control_ids() == ["MSG2"]
            assert emitter.counters.reconnects == 1
        finally:
            await emitter.close()
            await restarted.stop()


async def test_cannot_connect_keeps_retrying_until_cancelled() -> None:
    gateway = ScriptedGateway()
    port = await gateway.start()
    await gateway.stop()
    async with fast_emitter(port) as emitter:
        sending = asyncio.create_task(emitter.send(oru("MSG1")))
        await eventually(lambda: emitter.counters.connect_failures >= 3)
        sending.cancel()
        with pytest.raises(asyncio.CancelledError):
            await sending
    assert asyncio.all_tasks() == {asyncio.current_task()}


async def test_cancelled_while_waiting_leaves_no_task_and_closes_the_socket() -> None:
    async def silent(message: er7.Message, nth: int) -> list[bytes]:
        return []

    async with ScriptedGateway(silent) as gateway:
        async with fast_emitter(gateway.port) as emitter:
            sending = asyncio.create_task(emitter.send(oru("MSG1")))
            await eventually(lambda: len(gateway.received) == 1)
            sending.cancel()
            with pytest.raises(asyncio.CancelledError):
                await sending
        assert not emitter.connected
        await eventually(lambda: gateway.open_connections == 0)
        await eventually(lambda: asyncio.all_tasks() == {asyncio.current_task()})


def test_a_message_without_control_id_is_refused_before_sending() -> None:
    emitter = MllpEmitter("127.0.0.1", 9)
    with pytest.raises(ValueError, match="MSH-10"):
        asyncio.run(emitter.send(b"MSH|^~\\&|X||||||ORU^R01^ORU_R01||P|2.6\r"))

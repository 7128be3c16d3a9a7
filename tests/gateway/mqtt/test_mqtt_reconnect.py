"""A broker outage as the publisher and the MQTT ingest tell it and pace it
(``gateway.mqtt.outage``): one fault when it begins, one when it ends, the attempts between
only logged; brokers in turn after a backoff doubling to its cap; a bug beside a broker
error never taken for an outage."""

from __future__ import annotations

import logging

import pytest

from gateway.clock import ManualClock
from gateway.hub import Hub
from gateway.mqtt.client import Broker, BrokerError
from gateway.mqtt.outage import (
    BACKOFF_FIRST_S,
    BACKOFF_MAX_S,
    BrokerOutage,
    BrokerTurns,
    first_broker_error,
)
from gateway.ward.routing import Router
from gateway.ward.state import WardState

log = logging.getLogger("tests.outage")
A, B = Broker("a.local", 1883), Broker("b.local", 8883, tls=True)


def outage_on(hub: Hub) -> BrokerOutage:
    return BrokerOutage(
        hub,
        log,
        source="mqtt-in",
        lost="MQTT ingest: devices on icu/in/v1/+/+/+/obs not heard",
        kind="MQTT ingest: devices not heard",
        back="MQTT ingest: receiving again after {seconds:.0f} s",
        label="MQTT ingest",
    )


async def test_an_outage_is_one_fault_when_it_begins_and_one_saying_how_long_when_it_ends(
    caplog: pytest.LogCaptureFixture,
) -> None:
    hub = Hub(WardState(), Router(), ManualClock())
    outage = outage_on(hub)
    outage.connected(A)  # the first connection: nothing was lost
    assert [f.text for f in hub.faults] == []
    with caplog.at_level(logging.INFO, logger="tests.outage"):
        outage.failed(A, "mqtt://a.local:1883: [Errno 111] Connection refused")
        outage.failed(B, "mqtts://b.local:8883: timed out")
        outage.failed(A, "mqtt://a.local:1883: [Errno 111] Connection refused")
    assert [(f.source, f.text) for f in hub.faults] == [
        (
            "mqtt-in mqtt://a.local:1883",
            "MQTT ingest: devices on icu/in/v1/+/+/+/obs not heard:"
            " mqtt://a.local:1883: [Errno 111] Connection refused",
        )
    ]
    assert [r.getMessage() for r in caplog.records if r.name == "tests.outage"] == [
        "MQTT ingest mqtts://b.local:8883: mqtts://b.local:8883: timed out",
        "MQTT ingest mqtt://a.local:1883: mqtt://a.local:1883: [Errno 111] Connection refused",
    ]
    outage.connected(B)
    assert (hub.faults[-1].source, hub.faults[-1].text) == (
        "mqtt-in mqtts://b.local:8883",
        "MQTT ingest: receiving again after 0 s",
    )
    outage.failed(B, "the connection ended")  # a new outage: told again
    assert hub.faults[-1].text.endswith("not heard: the connection ended")
    assert len(hub.faults) == 3


async def test_brokers_are_tried_in_turn_after_a_backoff_doubling_to_its_cap() -> None:
    turns = BrokerTurns([A, B], first_s=0.001, max_s=0.004)
    tried, pauses = [], []
    for _ in range(5):
        tried.append(turns.broker)
        pauses.append(turns.backoff_s)
        await turns.pause()
    assert tried == [A, B, A, B, A]
    assert pauses == [0.001, 0.002, 0.004, 0.004, 0.004]
    turns.connected()
    assert turns.backoff_s == 0.001
    assert turns.broker == B  # the next attempt goes on in turn
    assert (BACKOFF_FIRST_S, BACKOFF_MAX_S) == (0.25, 5.0)  # the defaults, unchanged


def test_the_broker_error_that_ended_a_connection_is_the_one_told() -> None:
    lost = BrokerError("mqtt://a.local:1883: the connection ended")
    group = ExceptionGroup("tasks", [ExceptionGroup("inner", [lost]), BrokerError("second")])
    assert first_broker_error(group) is lost


def test_a_bug_beside_a_broker_error_is_never_taken_for_an_outage() -> None:
    bug = ExceptionGroup("tasks", [BrokerError("timed out"), ValueError("a bug of ours")])
    assert first_broker_error(bug) is bug
    only_bug = ExceptionGroup("tasks", [KeyError("x")])
    assert first_broker_error(only_bug) is only_bug


def test_no_broker_is_refused() -> None:
    with pytest.raises(ValueError, match="no broker"):
        BrokerTurns([])

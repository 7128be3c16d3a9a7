"""The ingest path's fast record constructors build the real, frozen domain records."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import pytest

from adapters.hl7.records import fast_constructor
from gateway.domain import (
    DeviceId,
    DeviceReport,
    Location,
    Observation,
    ObservationStatus,
    ReceivedMessage,
)

DEVICE = DeviceId("EUI-64:0000000000000001", "MON")
OBSERVATION = (DEVICE, 147842, "HR", 72.0, "/min", ObservationStatus.VALID, 5, 6, "1.1", None, "m")


def test_a_fast_observation_is_the_real_frozen_record() -> None:
    made = fast_constructor(Observation)(*OBSERVATION)
    real = Observation(*OBSERVATION)
    assert type(made) is Observation
    assert made == real
    assert hash(made) == hash(real)
    assert repr(made) == repr(real)
    assert dataclasses.astuple(made) == dataclasses.astuple(real)
    with pytest.raises(dataclasses.FrozenInstanceError):
        made.value = 80.0  # type: ignore[misc]


def test_defaults_and_keywords_are_those_of_the_record() -> None:
    new_report = fast_constructor(DeviceReport)
    short = new_report(DEVICE, "mllp", "10.0.0.1:4000", 7)
    assert short == DeviceReport(DEVICE, "mllp", "10.0.0.1:4000", 7)
    assert (short.message_id, short.location, short.observations) == ("", None, ())
    location = Location("ICU^1^1", "ICU", "1", "1")
    by_name = new_report(
        device=DEVICE, transport="mllp", peer="p", receive_time_ns=1, location=location
    )
    assert by_name.location is location
    assert by_name == DeviceReport(DEVICE, "mllp", "p", 1, location=location)
    new_received = fast_constructor(ReceivedMessage)
    assert new_received(b"x", "mllp", "p", 1) == ReceivedMessage(b"x", "mllp", "p", 1)


def test_a_missing_argument_is_refused_as_by_the_record() -> None:
    with pytest.raises(TypeError):
        fast_constructor(Observation)(*OBSERVATION[:6])


def test_records_it_cannot_build_safely_get_their_own_constructor() -> None:
    @dataclass(frozen=True, slots=True)
    class Checked:
        value: int

        def __post_init__(self) -> None:
            if self.value < 0:
                raise ValueError("negative")

    @dataclass(frozen=True, slots=True)
    class WithFactory:
        items: list[int] = dataclasses.field(default_factory=list)

    @dataclass(frozen=True)
    class NoSlots:
        value: int

    for record in (Checked, WithFactory, NoSlots):
        assert fast_constructor(record) is record
    with pytest.raises(ValueError, match="negative"):
        fast_constructor(Checked)(-1)

"""The patient's name the devices send (HL7 PID-5, IntelliVue demographics) is on the bed —
on its tile before the id, on the bed screen, to remote screens — and never outlives its
patient: another patient id at the bed clears it, and so does the bed's last device going."""

from __future__ import annotations

from gateway.domain import BedId, DeviceId, DeviceReport
from gateway.mqtt import payloads
from gateway.mqtt.remote_ward import RemoteWard
from gateway.ward.state import WardState

BED = BedId("icu-1")
MONITOR = DeviceId("EUI-64:00A037EB21750001", "MX800")


def report(patient_id: str, name: str = "", at: int = 0) -> DeviceReport:
    return DeviceReport(MONITOR, "mllp", "10.0.0.1:4000", at, patient_id=patient_id,
                        patient_name=name)  # fmt: skip


def test_the_name_is_on_the_bed_and_goes_with_its_patient() -> None:
    ward = WardState()
    ward.add_bed(BED, "ICU 1")
    ward.apply(BED, report("P-1", "DUPONT, Marie"), seen_ns=0)
    ward.apply(BED, report("P-1"), seen_ns=1)  # a message without PID-5 keeps the name
    (bed,) = ward.snapshot(2).beds
    assert (bed.patient_id, bed.patient_name) == ("P-1", "DUPONT, Marie")
    ward.apply(BED, report("P-2"), seen_ns=3)  # another patient, no name sent
    (bed,) = ward.snapshot(4).beds
    assert (bed.patient_id, bed.patient_name) == ("P-2", "")


def test_a_remote_screen_shows_the_name_the_gateway_sent() -> None:
    ward = WardState()
    ward.add_bed(BED, "ICU 1")
    ward.apply(BED, report("P-1", "DUPONT, Marie"), seen_ns=0)
    (bed,) = ward.snapshot(1).beds
    remote = RemoteWard("icu/v1")
    remote.link_up()
    clock = remote.clock
    remote.receive("icu/v1/s/w/g/birth", payloads.birth(2, 1, 0, name="gw", beds=(bed,), alarms={}))
    for seq in (2, 3):  # two heartbeats of the session prove the gateway live
        remote.receive(
            "icu/v1/s/w/g/status",
            payloads.status_online(
                2,
                seq,
                clock.now_ns(),
                name="gw",
                aseq=0,
                digest=payloads.alarm_digest({}),
                alarms=0,
                stale_timeout_s=10,
                lost_after_s=60,
                heartbeat_s=1,
            ),
        )
    remote.receive("icu/v1/s/w/g/bed/icu-1/num", payloads.numerics(2, 4, clock.now_ns(), bed))
    (shown,) = remote.snapshot().beds
    assert (shown.patient_id, shown.patient_name) == ("P-1", "DUPONT, Marie")


def test_an_admitted_patient_shows_while_no_device_sends_an_id_and_never_mixes() -> None:
    ward = WardState()
    ward.add_bed(BED, "ICU 1")
    ward.admit(BED.key, "MRN-42", "CURIE, Marie")
    ward.apply(BED, report(""), seen_ns=0)  # a monitor without an admission of its own
    (bed,) = ward.snapshot(1).beds
    assert (bed.patient_id, bed.patient_name, bed.patient_entered) == (
        "MRN-42",
        "CURIE, Marie",
        True,
    )
    ward.apply(BED, report("MRN-42"), seen_ns=2)  # the same patient: the name entered
    (bed,) = ward.snapshot(3).beds
    assert (bed.patient_id, bed.patient_name, bed.patient_entered) == (
        "MRN-42",
        "CURIE, Marie",
        False,
    )
    ward.apply(BED, report("P-7", "ROE, John"), seen_ns=4)  # another patient: the device's
    (bed,) = ward.snapshot(5).beds
    assert (bed.patient_id, bed.patient_name) == ("P-7", "ROE, John")
    assert bed.patient_mismatch == "patient id mismatch: entered MRN-42, device sends P-7"
    ward.discharge(BED.key)
    (bed,) = ward.snapshot(6).beds
    assert (bed.patient_id, bed.patient_mismatch, bed.patient_entered) == ("P-7", "", False)


def test_an_admission_outlives_its_automatic_bed_going_and_coming_back() -> None:
    ward = WardState()
    ward.admit(BED.key, "MRN-42")
    ward.apply(BED, report(""), seen_ns=0, label="ICU 1")
    ward.leave(BED.key, MONITOR)  # its only device moved: the automatic bed goes
    assert ward.snapshot(1).beds == ()
    ward.apply(BED, report(""), seen_ns=2, label="ICU 1")
    (bed,) = ward.snapshot(3).beds
    assert (bed.patient_id, bed.patient_entered) == ("MRN-42", True)


def test_a_remote_screen_shows_the_admission_and_the_mismatch_the_gateway_sent() -> None:
    ward = WardState()
    ward.add_bed(BED, "ICU 1")
    ward.admit(BED.key, "MRN-42", "CURIE, Marie")
    ward.apply(BED, report("P-7"), seen_ns=0)
    (bed,) = ward.snapshot(1).beds
    remote = RemoteWard("icu/v1")
    remote.link_up()
    clock = remote.clock
    remote.receive("icu/v1/s/w/g/birth", payloads.birth(2, 1, 0, name="gw", beds=(bed,), alarms={}))
    for seq in (2, 3):
        remote.receive(
            "icu/v1/s/w/g/status",
            payloads.status_online(
                2, seq, clock.now_ns(), name="gw", aseq=0, digest=payloads.alarm_digest({}),
                alarms=0, stale_timeout_s=10, lost_after_s=60, heartbeat_s=1,
            ),
        )  # fmt: skip
    remote.receive("icu/v1/s/w/g/bed/icu-1/num", payloads.numerics(2, 4, clock.now_ns(), bed))
    (shown,) = remote.snapshot().beds
    assert (shown.patient_id, shown.patient_mismatch) == ("P-7", bed.patient_mismatch)
    assert bed.patient_mismatch and not shown.patient_entered

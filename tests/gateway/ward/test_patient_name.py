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

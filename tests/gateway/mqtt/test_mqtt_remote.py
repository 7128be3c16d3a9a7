"""A gateway publishing to a real Mosquitto and a remote screen's ward reading it: the same
bed values, the same alarms, and NO DATA as soon as the gateway goes."""

from __future__ import annotations

import time
from pathlib import Path

from journal_support import oru
from mqtt_support import bed_named, hr_of, publishing_gateway, remote_screen
from waiting import eventually

from gateway.domain import AlarmPriority, Connectivity


async def test_a_remote_screen_shows_the_values_and_alarms_the_gateway_shows(
    mosquitto: str, tmp_path: Path
) -> None:
    async with (
        publishing_gateway(mosquitto, tmp_path / "j.sqlite") as gateway,
        remote_screen(mosquitto) as (remote, _),
    ):
        monitor = await gateway.monitor()
        assert (await monitor.send(oru("m1", bed=1, hr=71)))[0] == "CA"
        await eventually(lambda: hr_of(bed_named(remote.snapshot(), "ICU^1^1")) == 71, "HR 71")
        # a value over the default high limit (120): the gateway's alarm, on the remote too
        assert (await monitor.send(oru("m2", bed=1, hr=180)))[0] == "CA"
        await eventually(lambda: hr_of(bed_named(remote.snapshot(), "ICU^1^1")) == 180, "HR 180")
        await eventually(
            lambda: any("HR" in a.text for a in gateway.hub.snapshot().alarms.alarms),  # type: ignore[union-attr]
            "the gateway's HR alarm",
        )
        local = gateway.hub.snapshot()
        assert local.alarms is not None
        wanted = {(a.text, a.priority) for a in local.alarms.alarms}

        def same_alarms() -> bool:
            alarms = remote.snapshot().alarms
            return alarms is not None and {(a.text, a.priority) for a in alarms.alarms} == wanted

        await eventually(same_alarms, f"the remote alarms to be {wanted}")
        bed = bed_named(remote.snapshot(), "ICU^1^1")
        assert bed is not None and bed.connectivity is Connectivity.CONNECTED
        mine = local.beds[0]
        assert bed.label == mine.label and bed.patient_id == mine.patient_id
        assert {c: r.value for c, r in bed.readings.items()} == {
            c: r.value for c, r in mine.readings.items()
        }
        assert not any(r.stale for r in bed.readings.values())
        await monitor.close()


async def test_a_gateway_that_stops_is_no_data_on_the_remote_within_3_s(
    mosquitto: str, tmp_path: Path
) -> None:
    async with remote_screen(mosquitto) as (remote, _):
        async with publishing_gateway(mosquitto, tmp_path / "j.sqlite") as gateway:
            monitor = await gateway.monitor()
            await monitor.send(oru("m1", bed=2, hr=64))
            await eventually(lambda: hr_of(bed_named(remote.snapshot(), "ICU^2^1")) == 64, "HR")
            await monitor.close()
            stopped = time.monotonic()
        await eventually(
            lambda: (
                bed_named(remote.snapshot(), "ICU^2^1").connectivity  # type: ignore[union-attr]
                is not Connectivity.CONNECTED
            ),
            "NO DATA",
            timeout_s=3.0,
        )
        took = time.monotonic() - stopped
        snapshot = remote.snapshot()
        bed = bed_named(snapshot, "ICU^2^1")
        assert bed is not None and all(r.stale for r in bed.readings.values())
        assert snapshot.alarms is not None
        dark = [a for a in snapshot.alarms.alarms if a.text.startswith("NO DATA from")]
        assert dark and dark[0].priority is AlarmPriority.HIGH
        assert "offline (stopped)" in dark[0].text, dark[0].text  # its own goodbye
        assert took < 3.0

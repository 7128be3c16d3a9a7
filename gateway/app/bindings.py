"""Beds changed on the running gateway: binding a device, renaming a bed, admitting and
discharging a patient, reloading.

:class:`LiveBindings` is what the devices screen asks (through :class:`tui.view.BedDesk`)
and what a headless service's SIGHUP calls. Every change is effective at once — the hub
takes the new beds (:meth:`gateway.hub.Hub.rebind`) and no connection is touched, so a
monitor keeps its socket and its values move to the bed with its next report — then kept
in the bindings overlay (:mod:`gateway.config.overlay`) so that it survives a restart, and
journaled as a ward-wide ``configuration`` entry of the alarm log signed by the operator
(the journal's audit trail of who did what at the screen), and logged.

A reload reads the configuration file and the overlay again. It takes the beds (which
devices, locations and addresses bind to which bed, and the bed labels), the admissions
of the overlay, and the alarm limits — ``[alarms.limits]``, ``condition_delay_s`` and each
bed's ``limits``, given to the running alarm engine at once (journaled, with what changed)
— and nothing else: listeners, serial ports, IntelliVue, MQTT, the journal, the alarm
sound, hysteresis and every other setting need a restart, and a reload that finds them
changed says so (a fault). A file that fails to load is a fault and changes nothing: the
running configuration stays.

An admission (:meth:`LiveBindings.admit`) names the patient of a bed whose devices send
no patient id (serial oximeters, IntelliVue, monitors without an admission of their own):
shown at once, kept in the overlay, journaled as the bed's alarm-log entry
(:mod:`gateway.journal.admissions`, which the exports read back). It never overrides what
a device sends (see :meth:`gateway.ward.state.WardState.admit`).

The configuration file is never written here: the overlay is the only file this writes.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import tempfile
from pathlib import Path

from gateway.alarms.settings import AlarmSettings
from gateway.config.load import load_config
from gateway.config.model import GatewayConfig, Limit, SerialConfig
from gateway.config.overlay import (
    Admission,
    BindingOverlay,
    apply_overlay,
    overlay_path,
    overlay_text,
    parse_overlay,
    patient_problem,
    read_overlay,
)
from gateway.domain import BedId
from gateway.errors import BindingRefused, ConfigError
from gateway.hub import Hub
from gateway.journal.admissions import ADMISSION_KEY, admission_text
from gateway.ward.routing import location_key

log = logging.getLogger("gateway.bindings")

NEEDS_RESTART = (
    ("listeners", "listeners"),
    ("serial", "serial ports"),
    ("intellivue", "IntelliVue"),
    ("mqtt", "[mqtt]"),
    ("mqtt_ingest", "[mqtt_ingest]"),
    ("journal", "the journal"),
    ("dashboard", "dashboard options"),
    ("admission", "admission limits"),
    ("auto_beds", "auto_beds"),
    ("stale_timeout_s", "stale_timeout_s"),
    ("lost_after_s", "lost_after_s"),
    ("retention_h", "retention_h"),
    ("name", "the gateway's name"),
)
"""What a reload does not apply, by GatewayConfig field, as it is named in the fault."""

ALARMS_NEED_RESTART = (
    ("hysteresis_pct", "alarm hysteresis"),
    ("audio", "the alarm sound"),
    ("audio_command", "the alarm sound command"),
    ("audio_pause_s", "the audio pause"),
)
"""The ``[alarms]`` settings a reload does not apply (the limits and the condition delay
it does), by AlarmConfig field."""


def _limits_of(config: GatewayConfig) -> dict[str, object]:
    """What the alarm limits in force come from, by where it is written, to compare."""
    written: dict[str, object] = {
        f"[alarms.limits] {name}": limit for name, limit in config.alarms.limits.items()
    }
    written["condition_delay_s"] = config.alarms.condition_delay_s
    for bed in config.beds:
        for name, limit in bed.limits.items():
            written[f"bed {bed.id} {name}"] = limit
    return written


def _limit_text(limit: object) -> str:
    if not isinstance(limit, Limit):
        if isinstance(limit, int | float):
            return f"{limit:g} s"
        return "none" if limit is None else str(limit)
    parts = [
        f"{what} {value:g}"
        for what, value in (("low", limit.low), ("high", limit.high))
        if value is not None
    ]
    if limit.delay_s is not None:
        parts.append(f"delay {limit.delay_s:g} s")
    return ", ".join(parts) or "no limits"


def limit_changes(before: GatewayConfig, after: GatewayConfig) -> list[str]:
    """The alarm limits ``after`` changes from ``before``, as said to staff
    (``[alarms.limits] hr high 120 → high 110``)."""
    old, new = _limits_of(before), _limits_of(after)
    return [
        f"{where} {_limit_text(old.get(where))} → {_limit_text(new.get(where))}"
        for where in sorted(old.keys() | new.keys())
        if old.get(where) != new.get(where)
    ]


def _fault(hub: Hub | None, text: str) -> None:
    if hub is None:
        log.warning("config: %s", text)
    else:
        hub.fault("config", text)


class LiveBindings:
    """The beds of a running gateway, changed from the screen or reloaded from the files.

    ``config`` is the configuration the gateway started with (its file's, without the
    overlay); ``config_path`` the file to reload (None: zero-config, only the overlay is
    read again). :meth:`start` gives the hub the overlay's beds. An overlay that cannot be
    read is a fault and is left out: the gateway runs on the configuration alone, and the
    next change from the screen writes a good one."""

    def __init__(self, hub: Hub, config: GatewayConfig, config_path: Path | None) -> None:
        self.hub = hub
        self.config_path = config_path
        self.overlay_path = overlay_path(config)
        self.file_config = config
        """The configuration as its file says, without the overlay."""
        try:
            self.overlay = read_overlay(self.overlay_path)
        except ConfigError as error:
            self.overlay = BindingOverlay()
            for problem in error.problems:
                _fault(hub, f"bindings overlay left out: {problem}")
        self.running = apply_overlay(config, self.overlay)
        self._lock = asyncio.Lock()
        self.limits_config = config
        """The configuration whose alarm limits are in force (the engine was built from
        the file's): what a reload compares the fresh file's limits with."""
        self._baseline: GatewayConfig | None = None
        """The file as it was read at start, before any command-line override (``--listen``,
        ``--journal``): what a reload compares with, to say what needs a restart."""
        if config_path is not None:
            try:
                self._baseline = load_config(config_path)
            except ConfigError:
                self._baseline = None  # changed since it was read: compared with itself

    def start(self) -> None:
        """Give the hub the overlay's beds and admissions (before the ward is rebuilt or
        anything heard)."""
        for admission in self.overlay.admissions:
            self.hub.ward.admit(admission.bed, admission.patient_id, admission.patient_name)
        if self.overlay.beds:
            self.hub.rebind(self.running.bindings())
            log.info(
                "bindings overlay %s: %d beds changed", self.overlay_path, len(self.overlay.beds)
            )

    @property
    def bed_ids(self) -> dict[str, str]:
        """The configured beds now: id → label."""
        return {bed.id: bed.label for bed in self.running.beds}

    async def bind_device(
        self,
        device: str,
        bed_id: str,
        label: str | None,
        operator: str,
        location: str | None = None,
    ) -> str:
        """Bind ``device`` to bed ``bed_id``: a new bed labelled ``label``, or a known one
        (which keeps its label: renaming is :meth:`rename_bed`), with ``location`` (a new
        bed's PV1-3) when given; effective now, kept in the overlay, journaled. Returns what
        was done, as said to the operator. Raises :class:`BindingRefused` when the change
        cannot be made."""
        bed_id = bed_id.strip()
        known = bed_id in self.bed_ids
        label = None if known or label is None or not label.strip() else label.strip()
        if location is not None and (known or self._location_taken(location)):
            location = None  # a known bed, or a location already bound: the device alone
        overlay = self.overlay.bind(bed_id, label, device, location)
        shown = label or self.bed_ids.get(bed_id) or bed_id
        text = f"device {device} bound to bed {bed_id} ({shown})" + (
            "" if known else " (a new bed)"
        )
        return await self._change(overlay, text, operator)

    async def rename_bed(self, bed_id: str, label: str, operator: str) -> str:
        """Give the configured bed ``bed_id`` the label ``label``: effective now, kept in the
        overlay, journaled. Raises :class:`BindingRefused` for a bed not configured."""
        label = label.strip()
        if bed_id not in self.bed_ids:
            raise BindingRefused(
                f"bed {bed_id} is an automatic bed: bind its device (b) to give it a name"
            )
        if not label:
            raise BindingRefused("a bed's label cannot be empty")
        before = self.bed_ids[bed_id]
        overlay = self.overlay.rename(bed_id, label)
        return await self._change(
            overlay, f"bed {bed_id} renamed from {before} to {label}", operator
        )

    def _location_taken(self, location: str) -> bool:
        key = location_key(location)
        return any(location_key(loc) == key for bed in self.running.beds for loc in bed.locations)

    async def _change(self, overlay: BindingOverlay, text: str, operator: str) -> str:
        async with self._lock:
            try:
                overlay_text_checked(overlay)
                running = apply_overlay(self.file_config, overlay)
                bindings = running.bindings()
            except (ConfigError, ValueError) as error:
                raise BindingRefused(str(error)) from None
            self.hub.rebind(bindings)  # effective now, before the disk
            self.overlay, self.running = overlay, running
            self.hub.alarms.note_configuration(text, operator)
            log.warning("beds changed by %s: %s", operator.strip() or "unknown", text)
            return await self._save(overlay, text)

    async def _save(self, overlay: BindingOverlay, text: str) -> str:
        """Keep ``overlay`` (in effect already) on disk; what to say to the operator."""
        try:
            await asyncio.to_thread(write_overlay, self.overlay_path, overlay, text)
        except OSError as error:
            self.hub.fault(
                "config",
                f"{text}: in effect now, but not saved to {self.overlay_path}"
                f" ({error.strerror or error}): it is lost at a restart",
            )
            return f"{text} — NOT SAVED: {error.strerror or error}"
        return text

    # ---------------------------------------------------------------- admissions

    def admission(self, bed_key: str) -> Admission | None:
        """The patient admitted to bed ``bed_key`` at the gateway, if any."""
        return self.overlay.admission(bed_key)

    async def admit(
        self, bed_key: str, bed_label: str, patient_id: str, patient_name: str, operator: str
    ) -> str:
        """Admit a patient to bed ``bed_key`` (labelled ``bed_label`` on screen): shown at
        once while the bed's devices send no patient id, kept in the overlay, journaled as
        the bed's entry signed by ``operator``. A patient admitted before is replaced (and
        the journal says so). Raises :class:`BindingRefused` for a bad id or name."""
        patient_id, patient_name = patient_id.strip(), " ".join(patient_name.split())
        problem = patient_problem(patient_id, patient_name)
        if problem is not None:
            raise BindingRefused(problem)
        async with self._lock:
            before = self.overlay.admission(bed_key)
            overlay = self.overlay.admit(Admission(bed_key, patient_id, patient_name))
            try:
                overlay_text_checked(overlay)
            except ConfigError as error:
                raise BindingRefused("; ".join(error.problems)) from None
            if before is not None and before.patient_id != patient_id:
                self._journal_admission(False, bed_key, bed_label, before, operator)
            admission = Admission(bed_key, patient_id, patient_name)
            self.hub.ward.admit(bed_key, patient_id, patient_name)  # effective now
            self.overlay = overlay
            text = self._journal_admission(True, bed_key, bed_label, admission, operator)
            return await self._save(overlay, text)

    async def discharge(self, bed_key: str, bed_label: str, operator: str) -> str:
        """Discharge the patient admitted to bed ``bed_key`` at the gateway: what its
        devices send (if anything) shows again. Journaled, kept in the overlay. Raises
        :class:`BindingRefused` when nobody was admitted there."""
        async with self._lock:
            before = self.overlay.admission(bed_key)
            if before is None:
                raise BindingRefused(f"nobody is admitted to {bed_label} at the gateway")
            overlay = self.overlay.discharge(bed_key)
            self.hub.ward.discharge(bed_key)
            self.overlay = overlay
            text = self._journal_admission(False, bed_key, bed_label, before, operator)
            return await self._save(overlay, text)

    def _journal_admission(
        self, admitted: bool, bed_key: str, bed_label: str, who: Admission, operator: str
    ) -> str:
        text = admission_text(admitted, bed_label, who.patient_id, who.patient_name)
        self.hub.alarms.note_configuration(
            text, operator, bed=BedId(bed_key), bed_label=bed_label, key=ADMISSION_KEY
        )
        log.warning("%s (by %s)", text, operator.strip() or "unknown")
        return text

    def _take_admissions(self, overlay: BindingOverlay, operator: str) -> None:
        """Give the ward the overlay's admissions in place of the running ones (a reload):
        one removed or changed by hand is journaled as a discharge, one added as an
        admission, so the record follows what the screen shows."""
        labels = self.bed_ids
        for gone in self.overlay.admissions:
            if overlay.admission(gone.bed) != gone:
                self.hub.ward.discharge(gone.bed)
                label = labels.get(gone.bed, gone.bed)
                self._journal_admission(False, gone.bed, label, gone, operator)
        for admission in overlay.admissions:
            if self.overlay.admission(admission.bed) != admission:
                self.hub.ward.admit(admission.bed, admission.patient_id, admission.patient_name)
                label = labels.get(admission.bed, admission.bed)
                self._journal_admission(True, admission.bed, label, admission, operator)

    async def reload(self, operator: str = "SIGHUP") -> bool:
        """Read the configuration file and the overlay again and take their beds; say
        what else changed and needs a restart. True when the beds were taken; a file that
        fails to load is a fault and the running configuration stays."""
        async with self._lock:
            try:
                if self.config_path is None:
                    fresh = self.file_config
                else:
                    fresh = await asyncio.to_thread(load_config, self.config_path)
                overlay = await asyncio.to_thread(read_overlay, self.overlay_path)
                file_config = dataclasses.replace(
                    self.file_config,
                    beds=fresh.beds,
                    serial=_serial_beds(self.file_config, fresh),
                )
                running = apply_overlay(file_config, overlay)
                bindings = running.bindings()
            except (ConfigError, ValueError) as error:
                problems = error.problems if isinstance(error, ConfigError) else [str(error)]
                self.hub.fault(
                    "config",
                    "reload failed, the running configuration stays: " + "; ".join(problems),
                )
                return False
            baseline = self._baseline or fresh
            changed = [
                what
                for name, what in NEEDS_RESTART
                if getattr(fresh, name) != getattr(baseline, name)
            ]
            changed += [
                what
                for name, what in ALARMS_NEED_RESTART
                if getattr(fresh.alarms, name) != getattr(baseline.alarms, name)
            ]
            limits = dataclasses.replace(  # what the alarm engine goes by: these, live
                running,
                alarms=dataclasses.replace(
                    self.limits_config.alarms,
                    limits=fresh.alarms.limits,
                    condition_delay_s=fresh.alarms.condition_delay_s,
                ),
            )
            new_limits = limit_changes(self.limits_config, limits)
            self.hub.rebind(bindings)
            self._take_admissions(overlay, operator)  # one removed by hand: a discharge
            self.file_config, self.overlay, self.running = file_config, overlay, running
            source = self.config_path or "the overlay"
            text = f"configuration reloaded from {source}: {len(running.beds)} configured beds"
            self.hub.alarms.note_configuration(text, operator)
            log.warning("%s (by %s)", text, operator)
            if new_limits:
                self._take_limits(limits, new_limits, operator)
            if changed:
                self.hub.fault(
                    "config",
                    f"reload: {', '.join(changed)} changed in {source}; listener and other"
                    " changes need a restart (only beds, bed labels, admissions and alarm"
                    " limits were reloaded)",
                )
            return True

    def _take_limits(self, config: GatewayConfig, changes: list[str], operator: str) -> None:
        """Give the alarm engine the limits of ``config`` (changed as ``changes`` say), at
        once: every bed and channel judged against its new limits. Journaled, logged."""
        settings, problems = AlarmSettings.from_config(config)
        beds = self.hub.alarms.set_limits(settings.limits)
        self.limits_config = config
        for problem in problems:
            self.hub.fault("config", problem)
        text = "alarm limits reloaded: " + "; ".join(changes)
        if beds:
            text += f" (in force now on {', '.join(beds)})"
        self.hub.alarms.note_configuration(text, operator)
        log.warning("%s (by %s)", text, operator)


def _serial_beds(running: GatewayConfig, fresh: GatewayConfig) -> tuple[SerialConfig, ...]:
    """The running serial ports with the beds the fresh file gives them (a port's ``bed``
    is a binding; the port itself needs a restart)."""
    beds = {port.port: port.bed for port in fresh.serial}
    return tuple(
        dataclasses.replace(port, bed=beds[port.port]) if port.port in beds else port
        for port in running.serial
    )


def overlay_text_checked(overlay: BindingOverlay) -> str:
    """The overlay's text, read back before it is used: never write what would not load."""
    text = overlay_text(overlay)
    parse_overlay(text)
    return text


def write_overlay(path: Path, overlay: BindingOverlay, change: str = "") -> None:
    """Write the overlay atomically (a file beside it, flushed, then renamed over it): a
    crash leaves the old overlay or the new one, never half of one. Raises OSError."""
    text = overlay_text(overlay, f"last change: {change}" if change else "")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, scratch = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        os.replace(scratch, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(scratch)
        raise

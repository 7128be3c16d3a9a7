"""Beds changed on the running gateway: binding a device, renaming a bed, reloading.

:class:`LiveBindings` is what the devices screen asks (through :class:`tui.view.BedDesk`)
and what a headless service's SIGHUP calls. Every change is effective at once — the hub
takes the new beds (:meth:`gateway.hub.Hub.rebind`) and no connection is touched, so a
monitor keeps its socket and its values move to the bed with its next report — then kept
in the bindings overlay (:mod:`gateway.config.overlay`) so that it survives a restart, and
journaled as a ward-wide ``configuration`` entry of the alarm log signed by the operator
(the journal's audit trail of who did what at the screen), and logged.

A reload reads the configuration file and the overlay again. Only the beds are taken from
them (which devices, locations and addresses bind to which bed, and the bed labels):
listeners, serial ports, IntelliVue, MQTT, the journal, alarm limits and every other
setting need a restart, and a reload that finds them changed says so (a fault). A file that
fails to load is a fault and changes nothing: the running configuration stays.

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

from gateway.config.load import load_config
from gateway.config.model import GatewayConfig, SerialConfig
from gateway.config.overlay import (
    BindingOverlay,
    apply_overlay,
    overlay_path,
    overlay_text,
    parse_overlay,
    read_overlay,
)
from gateway.errors import BindingRefused, ConfigError
from gateway.hub import Hub
from gateway.ward.routing import location_key

log = logging.getLogger("gateway.bindings")

NEEDS_RESTART = (
    ("listeners", "listeners"),
    ("serial", "serial ports"),
    ("intellivue", "IntelliVue"),
    ("mqtt", "[mqtt]"),
    ("mqtt_ingest", "[mqtt_ingest]"),
    ("journal", "the journal"),
    ("alarms", "alarm settings"),
    ("dashboard", "dashboard options"),
    ("admission", "admission limits"),
    ("auto_beds", "auto_beds"),
    ("stale_timeout_s", "stale_timeout_s"),
    ("lost_after_s", "lost_after_s"),
    ("retention_h", "retention_h"),
    ("name", "the gateway's name"),
)
"""What a reload does not apply, by GatewayConfig field, as it is named in the fault."""


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
        self._baseline: GatewayConfig | None = None
        """The file as it was read at start, before any command-line override (``--listen``,
        ``--journal``): what a reload compares with, to say what needs a restart."""
        if config_path is not None:
            try:
                self._baseline = load_config(config_path)
            except ConfigError:
                self._baseline = None  # changed since it was read: compared with itself

    def start(self) -> None:
        """Give the hub the overlay's beds (before the ward is rebuilt or anything heard)."""
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
            if {b.id: dict(b.limits) for b in fresh.beds if b.limits} != {
                b.id: dict(b.limits) for b in baseline.beds if b.limits
            }:
                changed.append("bed alarm limits")
            self.hub.rebind(bindings)
            self.file_config, self.overlay, self.running = file_config, overlay, running
            source = self.config_path or "the overlay"
            text = f"configuration reloaded from {source}: {len(running.beds)} configured beds"
            self.hub.alarms.note_configuration(text, operator)
            log.warning("%s (by %s)", text, operator)
            if changed:
                self.hub.fault(
                    "config",
                    f"reload: {', '.join(changed)} changed in {source}; listener and other"
                    " changes need a restart (only beds and bed labels were reloaded)",
                )
            return True


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

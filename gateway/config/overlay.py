"""The bindings overlay: the beds changed while running, kept apart from the configuration.

A device bound to a bed from the devices screen, or a bed renamed there, is written to a
small TOML file beside the configuration (``ward.toml`` → ``ward.bindings.toml``; with no
configuration file, beside the journal) and read after the configuration at every start and
reload, so the change survives a restart. The configuration file itself is never written:
it is the biomedical engineer's. The overlay holds ``[[beds]]`` tables with the keys of the
configuration's own (``id``, ``label``, ``devices``, ``locations``), checked the same way,
and ``[[admissions]]`` tables: the patient admitted to a bed at the screen (``bed``, the
bed's key; ``patient_id``; ``patient_name``, "Family, Given", may be absent), one per bed,
removed when the patient is discharged. An admission is not a binding: it changes no bed
and no route, only whom the bed's tile names while its devices send no patient id (see
:meth:`gateway.ward.state.WardState.admit`).

How it applies (:func:`apply_overlay`), table by table in order: a bed of the configuration
with the same id takes the overlay's label (when it gives one) and its devices and
locations besides its own; another id is a new bed. A device or location the overlay binds
is taken off every other bed first (and a ``[[serial]]`` port's ``bed`` that named another
one): the latest binding wins, and a device never belongs to two beds.

This module reads that one file and says what to write in it (:func:`overlay_text`); the
writing is done by :mod:`gateway.app.bindings` (this package creates no file).
"""

from __future__ import annotations

import dataclasses
import json
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gateway.config.checks import _BED_ID, _BED_ID_ALLOWED, _device_key, _location
from gateway.config.model import BedConfig, GatewayConfig
from gateway.config.validation import (
    _REQUIRED,
    _Cursor,
    _Field,
    _Invalid,
    _LineIndex,
    _List,
    _pattern,
    _Reader,
    _syntax_problem,
    _Table,
    _text,
)
from gateway.errors import ConfigError
from gateway.ward.routing import location_key

OVERLAY_SUFFIX = ".bindings.toml"

_OVERLAY_BED = _Table(
    "a [[beds]] table",
    {
        "id": _Field(_pattern(_BED_ID, _BED_ID_ALLOWED), _REQUIRED),
        "label": _Field(_text()),
        "locations": _Field(
            _List(
                _text('a PV1-3 location as sent, e.g. "ICU^12^1"', _location), "a list of strings"
            ),
            [],
        ),
        "devices": _Field(
            _List(
                _text('a device key like "EUI-64:00A037EB2175780F" or "app:MONITOR"', _device_key),
                "a list of strings",
            ),
            [],
        ),
    },
)
MAX_PATIENT_ID = 64
MAX_PATIENT_NAME = 128


def patient_problem(patient_id: str, name: str = "") -> str | None:
    """What is wrong with a patient id and name entered at the screen (None: nothing): an
    id is needed, and neither may hold a control character or be longer than a tile."""
    if not patient_id.strip():
        return "a patient id is needed"
    for what, text, most in (("id", patient_id, MAX_PATIENT_ID), ("name", name, MAX_PATIENT_NAME)):
        if len(text) > most:
            return f"the patient {what} is longer than {most} characters"
        if any(not char.isprintable() for char in text):
            return f"the patient {what} holds a control character"
    return None


def _patient_id(text: str) -> str:
    problem = patient_problem(text)
    if problem is not None:
        raise _Invalid(problem)
    return text


def _patient_name(text: str) -> str:
    problem = patient_problem("-", text)
    if problem is not None:
        raise _Invalid(problem)
    return text


_OVERLAY_ADMISSION = _Table(
    "an [[admissions]] table",
    {
        "bed": _Field(_text("a bed's key, as the devices screen shows it"), _REQUIRED),
        "patient_id": _Field(_text("a patient id", _patient_id), _REQUIRED),
        "patient_name": _Field(_text('a name, "Family, Given"', _patient_name)),
    },
)
_OVERLAY = _Table(
    "the bindings overlay",
    {
        "beds": _Field(_List(_OVERLAY_BED, "an array of tables [[beds]]"), []),
        "admissions": _Field(_List(_OVERLAY_ADMISSION, "an array of tables [[admissions]]"), []),
    },
)


@dataclass(frozen=True, slots=True)
class OverlayBed:
    """One bed as the overlay changes it."""

    id: str
    label: str | None = None
    """The bed's label; None: the configuration's (or the id, for a new bed)."""
    devices: tuple[str, ...] = ()
    locations: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Admission:
    """A patient admitted to a bed at the screen (not sent by a device)."""

    bed: str
    """The bed's key."""
    patient_id: str
    patient_name: str = ""
    """"Family, Given"; empty: not entered."""


@dataclass(frozen=True, slots=True)
class BindingOverlay:
    beds: tuple[OverlayBed, ...] = ()
    admissions: tuple[Admission, ...] = ()

    def bind(
        self, bed_id: str, label: str | None, device: str, location: str | None = None
    ) -> BindingOverlay:
        """This overlay with ``device`` (and ``location``, when given) bound to ``bed_id``
        and taken off every other bed of the overlay; ``label`` (when given) names it."""
        beds = []
        found = False
        same_location = None if location is None else location_key(location)
        for known in self.beds:
            devices = tuple(d for d in known.devices if d.upper() != device.upper())
            locations = tuple(loc for loc in known.locations if location_key(loc) != same_location)
            if known.id == bed_id:
                found = True
                devices += (device,)
                if location is not None:
                    locations += (location,)
                named = known.label if label is None else label
                beds.append(OverlayBed(known.id, named, devices, locations))
            else:
                beds.append(dataclasses.replace(known, devices=devices, locations=locations))
        if not found:
            beds.append(
                OverlayBed(bed_id, label, (device,), () if location is None else (location,))
            )
        return dataclasses.replace(self, beds=tuple(beds))

    def rename(self, bed_id: str, label: str) -> BindingOverlay:
        """This overlay with bed ``bed_id`` labelled ``label``."""
        if any(bed.id == bed_id for bed in self.beds):
            return dataclasses.replace(
                self,
                beds=tuple(
                    dataclasses.replace(bed, label=label) if bed.id == bed_id else bed
                    for bed in self.beds
                ),
            )
        return dataclasses.replace(self, beds=(*self.beds, OverlayBed(bed_id, label)))

    def admission(self, bed: str) -> Admission | None:
        """The patient admitted to bed ``bed`` (its key) at the screen, if any."""
        return next((a for a in self.admissions if a.bed == bed), None)

    def admit(self, admission: Admission) -> BindingOverlay:
        """This overlay with ``admission`` in place of the bed's previous one."""
        others = tuple(a for a in self.admissions if a.bed != admission.bed)
        return dataclasses.replace(self, admissions=(*others, admission))

    def discharge(self, bed: str) -> BindingOverlay:
        """This overlay without the admission of bed ``bed``."""
        return dataclasses.replace(
            self, admissions=tuple(a for a in self.admissions if a.bed != bed)
        )


def overlay_path(config: GatewayConfig) -> Path:
    """Where the overlay of ``config`` lives: beside its file (``ward.toml`` →
    ``ward.bindings.toml``), or beside the journal when there is no file (zero-config)."""
    source = config.source
    if source.startswith("<"):
        return config.journal.with_name(config.journal.stem + OVERLAY_SUFFIX)
    path = Path(source)
    return path.with_name(path.stem + OVERLAY_SUFFIX)


def read_overlay(path: Path) -> BindingOverlay:
    """The overlay in ``path``; empty when there is no such file. Raises
    :class:`~gateway.errors.ConfigError` naming every problem, as for a configuration."""
    source = os.fspath(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return BindingOverlay()
    except OSError as error:
        raise ConfigError([f"{source}: cannot read the file: {error.strerror or error}"]) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError([f"{source}: not UTF-8"]) from None
    return parse_overlay(text, source)


def parse_overlay(text: str, source: str = "<overlay>") -> BindingOverlay:
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError([_syntax_problem(source, text, error)]) from None
    reader = _Reader(source, _LineIndex(text))
    document: dict[str, Any] = _OVERLAY(raw, _Cursor(reader, ()))
    if reader.problems:
        raise ConfigError(reader.sorted_problems())
    admissions: dict[str, Admission] = {}
    for item in document["admissions"]:
        admissions[item["bed"]] = Admission(
            item["bed"], item["patient_id"], item["patient_name"] or ""
        )  # a bed admitted twice (a hand edit): the last one, as written last
    return BindingOverlay(
        tuple(
            OverlayBed(item["id"], item["label"], tuple(item["devices"]), tuple(item["locations"]))
            for item in document["beds"]
        ),
        tuple(admissions.values()),
    )


def toml_string(text: str) -> str:
    """A TOML basic string (JSON's escapes are a subset of TOML's)."""
    return json.dumps(text, ensure_ascii=False)


def overlay_text(overlay: BindingOverlay, header: str = "") -> str:
    """The overlay as TOML, as :func:`parse_overlay` reads it back."""
    lines = [
        "# Beds changed and patients admitted on the running gateway (devices screen).",
        "# Written by icu-gateway, read after the configuration at every start and reload",
        "# (SIGHUP).",
        "# Delete a table to undo its change (then reload or restart).",
    ]
    if header:
        lines.append(f"# {header}")
    for bed in overlay.beds:
        lines += ["", "[[beds]]", f"id = {toml_string(bed.id)}"]
        if bed.label is not None:
            lines.append(f"label = {toml_string(bed.label)}")
        if bed.devices:
            lines.append(f"devices = [{', '.join(toml_string(d) for d in bed.devices)}]")
        if bed.locations:
            lines.append(f"locations = [{', '.join(toml_string(x) for x in bed.locations)}]")
    for admission in overlay.admissions:
        lines += [
            "",
            "[[admissions]]",
            f"bed = {toml_string(admission.bed)}",
            f"patient_id = {toml_string(admission.patient_id)}",
        ]
        if admission.patient_name:
            lines.append(f"patient_name = {toml_string(admission.patient_name)}")
    return "\n".join(lines) + "\n"


def apply_overlay(config: GatewayConfig, overlay: BindingOverlay) -> GatewayConfig:
    """``config`` with the overlay's beds applied (see the module's docstring)."""
    beds = list(config.beds)
    serial = list(config.serial)
    for change in overlay.beds:
        devices = {d.upper() for d in change.devices}
        locations = {location_key(loc) for loc in change.locations}
        beds = [
            dataclasses.replace(
                bed,
                devices=tuple(d for d in bed.devices if d.upper() not in devices),
                locations=tuple(x for x in bed.locations if location_key(x) not in locations),
            )
            if bed.id != change.id
            else bed
            for bed in beds
        ]
        serial = [
            dataclasses.replace(port, bed=None)
            if port.bed not in (None, change.id) and f"serial:{port.port}".upper() in devices
            else port
            for port in serial
        ]
        index = next((i for i, bed in enumerate(beds) if bed.id == change.id), None)
        if index is None:
            beds.append(
                BedConfig(
                    change.id,
                    change.label if change.label is not None else change.id,
                    change.locations,
                    change.devices,
                )
            )
            continue
        bed = beds[index]
        beds[index] = dataclasses.replace(
            bed,
            label=change.label if change.label is not None else bed.label,
            devices=bed.devices
            + tuple(d for d in change.devices if d.upper() not in {x.upper() for x in bed.devices}),
            locations=bed.locations
            + tuple(
                x
                for x in change.locations
                if location_key(x) not in {location_key(y) for y in bed.locations}
            ),
        )
    return dataclasses.replace(config, beds=tuple(beds), serial=tuple(serial))

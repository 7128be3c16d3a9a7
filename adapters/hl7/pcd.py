"""IHE PCD decoding: a parsed ER7 message → :class:`DeviceReport` records.

One report per patient group (PID … PV1 … OBR/OBX) and device: who sent it (MSH-3, or the
MDS row's OBX-18 when a gateway forwards several devices), where the patient is (PV1-3, in
every form vendors use), and what the rows say:

- PCD-01 (``ORU^R01``): each OBX row with a value → an :class:`Observation` (MDC code,
  unit in MDC/UCUM/both, OBX-11 status, time OBX-14 > OBR-7 > MSH-7 with its zone, OBX-4
  sub-id so two channels of one parameter stay apart); Philips MDIL ``PPPP-hhhh`` ids are
  converted; local code systems are kept with their labels, never dropped;
- ``NA``/``MA`` rows, in R01 or ``ORU^W01`` → :class:`WaveformChunk` (``waveform``);
- PCD-04 (``ORU^R40``) facet groups and Philips MDIL-ALERT rows → :class:`AlarmEvent`
  (``acm``); Dräger's watchdog is recognised as a keep-alive (``Decoded.keep_alive``).

Device-hierarchy rows (MDS/VMD/channel, no value) and alarm facets never become
observations. It must not know beds, journals or sockets, and it raises only
:class:`ParseError`; what it had to leave out is listed in ``Decoded.problems``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from adapters.hl7 import acm, waveform
from adapters.hl7 import obx as obx_module
from adapters.hl7.er7 import STANDARD, Delimiters, Message, Segment, unescape
from adapters.hl7.obx import (
    STATUS,
    equipment,
    identify,
    parse_time,
    recent_time,
    split_components,
    structured_number,
    text_value,
    unit_of,
)
from adapters.hl7.records import fast_constructor
from gateway.domain import (
    AlarmEvent,
    DeviceId,
    DeviceReport,
    Location,
    Observation,
    ObservationStatus,
    WaveformChunk,
)
from gateway.errors import ParseError

__all__ = [
    "Decoded",
    "decode",
    "decode_message",
    "parse_location",
    "parse_time",
    "require_observation_report",
    "sender_device",
]

_VALID = ObservationStatus.VALID
_QUESTIONABLE = ObservationStatus.QUESTIONABLE
_INVALID = ObservationStatus.INVALID
_TEXT_TYPES = frozenset(("ST", "TX", "FT", "CWE", "CE", "CF", "CNE", "IS", "ID", "TS", "DTM", "NR"))
_WAVE_TYPES = frozenset(("NA", "MA"))
# Value types that are plain values (no waveform, channel definition or time row).
_PLAIN_TYPES = frozenset(("NM", "ST", "TX", "FT", "CWE", "CE", "CF", "CNE", "SN", "IS", "ID"))
_GATEWAY_NAME = re.compile(r"(?i)gateway|(?:^|[^a-z])gw(?:[^a-z]|$)")
_HEX16 = re.compile(r"[0-9A-Fa-f]{16}")
_EUI_TYPES = frozenset(("EUI-64", "EUI64"))
# OBX-18 equipment ids already read, per exact text and sender label (bounded).
_EQUIPMENT: dict[tuple[str, str], DeviceId] = {}
# MSH-3, MSH-4 and peer → the sender, whether its name says it is a gateway, and whether it
# names itself by hardware (EUI-64) (bounded).
_SENDERS: dict[tuple[str, str, str], tuple[DeviceId, bool, bool]] = {}


@dataclass(frozen=True, slots=True)
class Decoded:
    """What one message says, for the listener."""

    reports: tuple[DeviceReport, ...]
    keep_alive: bool = False
    """Dräger's watchdog: answer with a commit accept (``CA``) on the same socket."""
    confirm_timeout_s: float | None = None
    """How soon the watchdog's sender expects that answer, when it says."""
    problems: tuple[str, ...] = ()
    """What could not be taken in although the message was (a waveform without rate …)."""


def decode(
    message: Message, *, transport: str, peer: str, receive_time_ns: int
) -> list[DeviceReport]:
    """Every report a message carries (see :func:`decode_message` for the rest)."""
    return list(
        decode_message(
            message, transport=transport, peer=peer, receive_time_ns=receive_time_ns
        ).reports
    )


def decode_message(message: Message, *, transport: str, peer: str, receive_time_ns: int) -> Decoded:
    """Decode an ORU message (R01, R40, R42, W01 …) into reports, and what else it is."""
    return _Decoder(message, transport, peer, receive_time_ns).run()


def require_observation_report(message: Message) -> None:
    """Raise ParseError unless the message is one this decoder understands."""
    code, trigger, _ = message.message_type
    if code.strip().upper() != "ORU":
        raise ParseError(f"unsupported message type {code}^{trigger}", segment="MSH", field=9)


class _Decoder:
    """The state of decoding one message; a fresh one per message."""

    __slots__ = (
        "d",
        "demo",
        "gateway",
        "keep_alive",
        "message",
        "message_id",
        "message_time",
        "peer",
        "problems",
        "receive_time_ns",
        "sender",
        "sender_has_hardware_id",
        "timeout",
        "times",
        "transport",
        "trigger",
    )

    def __init__(self, message: Message, transport: str, peer: str, receive_time_ns: int):
        self.message = message
        d = self.d = message.delimiters
        self.transport, self.peer = transport, peer
        self.receive_time_ns = receive_time_ns
        msh = message.msh
        key = (msh.raw(3), msh.raw(4), peer)
        known = _SENDERS.get(key) if d is STANDARD else None
        if known is None:
            sender = sender_device(msh, peer)
            known = (
                sender,
                _GATEWAY_NAME.search(msh.get(3)) is not None,
                sender.key.startswith("EUI-64:"),
            )
            if d is STANDARD and len(_SENDERS) < 4096:
                _SENDERS[key] = known
        self.sender, self.gateway, self.sender_has_hardware_id = known
        self.message_id = message.control_id
        self.times = recent_time
        self.message_time = recent_time(msh.raw(7).strip())
        self.trigger = message.message_type[1].strip().upper()
        self.demo = is_demo_message(msh)
        self.problems: list[str] = []
        self.keep_alive = False
        self.timeout: float | None = None

    def run(self) -> Decoded:
        groups = patient_groups(self.message.segments)
        if len(groups) > 1:
            self.gateway = True  # several patients over one sender: a gateway by definition
            reports: list[DeviceReport] = []
            for group in groups:
                reports += self._patient(group)
        else:
            reports = self._patient(groups[0])
        problems = self.problems
        if not (problems or self.keep_alive):
            return new_decoded(tuple(reports))
        return new_decoded(tuple(reports), self.keep_alive, self.timeout, tuple(problems))

    def _patient(self, group: list[Segment]) -> list[DeviceReport]:
        patient_id = patient_name = ""
        location: Location | None = None
        content = _Content(self)
        obr: Segment | None = None
        rows: list[Segment] = []
        for seg in group:
            name = seg.name
            if name == "OBX":
                rows.append(seg)
            elif name == "OBR":
                if rows:
                    self._order(obr, rows, content)
                obr, rows = seg, []
            elif name == "PID":
                patient_id = _patient_id(seg)
                patient_name = _patient_name(seg)
            elif name == "PV1":
                location = parse_location(seg)
        if rows:
            self._order(obr, rows, content)
        return content.reports(location, patient_id, patient_name)

    def _order(self, obr: Segment | None, rows: list[Segment], content: _Content) -> None:
        """One OBR and its OBX rows: an alarm report (PCD-04) or observations."""
        base_time = self.message_time
        window: tuple[int | None, int | None] = (None, None)
        if obr is not None:
            fields = obr.fields
            obr_time = self.times(fields[7].strip()) if len(fields) > 7 else None
            base_time = obr_time or base_time
            if len(fields) > 8 and fields[8]:
                window = (obr_time, self.times(fields[8].strip()))
        base_time = base_time or self.receive_time_ns
        if self.trigger == "R40" or (obr is not None and _names_an_alarm(obr.raw(4))):
            self._alarms(obr, rows, content, base_time)
        elif not self._observations(rows, content, base_time, window):
            # Alarm facets in an observation report (seen in R01 exports): the OBR is an
            # alarm after all; what was read of it as observations was not kept.
            self._alarms(obr, rows, content, base_time)

    def _alarms(
        self, obr: Segment | None, rows: list[Segment], content: _Content, base_time: int
    ) -> None:
        for seg in rows:
            fields = seg.fields
            if len(fields) > 18 and fields[18] and (len(fields) < 6 or not fields[5]):
                content.note_equipment(seg)
        alarms, keep_alive = acm.alarm_group(
            obr,
            rows,
            d=self.d,
            times=self.times,
            base_time_ns=base_time,
            device_for=content.device_for,
            message_id=self.message_id,
            problems=self.problems,
        )
        demo = self.demo or any(is_demo_row(seg.fields, self.d) for seg in rows)
        for alarm in alarms:
            content.add_alarm(acm.as_demo(alarm) if demo else alarm)
        if keep_alive is not None:
            self.keep_alive = True
            self.timeout = keep_alive.confirm_timeout_s

    def _observations(
        self,
        rows: list[Segment],
        content: _Content,
        base_time: int,
        window: tuple[int | None, int | None],
    ) -> bool:
        """The rows of an observation OBR: values, waveforms, MDIL-ALERT text alarms.

        Returns False, keeping nothing, when a row turns out to be an alarm facet. This is
        the hot path (every row of every message of every bed): the lookups that repeat
        per exact field text (OBX-3, OBX-6, OBX-5 numbers) go through module caches,
        inlined. A number under a code the general path has already read as a plain
        measurement takes a fast path; the general path after it is the reference, and
        the fast path must give exactly what it would (tests hold them together).
        """
        d = self.d
        times = self.times
        receive_time = self.receive_time_ns
        message_id = self.message_id
        message_demo = self.demo
        device_for = content.device_for
        fixed_device = content.fixed_device()
        steady = True  # fixed_device has not changed
        standard = d is STANDARD
        codes, units = obx_module.CODES, obx_module.UNITS
        # The fast path's table; with other delimiters the same text means other things.
        plain_rows = _PLAIN_CODES if standard else _NO_PLAIN_CODES
        alarm_facets = obx_module.ALARM_FACETS
        status_of = STATUS.get
        numbers = _NUMBERS
        waves: list[waveform.PendingWave] = []
        waves_by_sub_id: dict[str, waveform.PendingWave] = {}
        channels: list[waveform.Channel] = []  # W01 channel definitions seen so far
        fresh: list[waveform.Channel] = []  # … and those since the last data row (for MA)
        wave_time: int | None = None
        escape = d.escape or "\x00"
        component = d.component
        observations: list[Observation] = []
        alarms: list[AlarmEvent] = []
        for seg in rows:
            fields = seg.fields
            count = len(fields)
            if count > 6 and fields[2] == "NM":
                # The fast path: a number under a known MDC code (nearly every row a monitor
                # sends). Anything it does not take as it is goes the general way below.
                plain = plain_rows.get(fields[3])
                raw_value = fields[5]
                if plain is not None and raw_value:
                    number = numbers.get(raw_value, _NAN)
                    if number != number:  # noqa: PLR0124 - NaN: not a number seen before
                        try:
                            number = float(raw_value)
                        except ValueError:
                            number = _NAN
                        # NaN and ±inf give NaN here (truthy); float() also reads "1_0".
                        if number - number or "_" in raw_value:
                            number = _NAN
                        else:
                            if len(numbers) >= _NUMBERS_LIMIT:
                                numbers.clear()  # values move on: start afresh
                            numbers[raw_value] = number
                    if number == number:  # noqa: PLR0124 - a number, not NaN
                        sub_id = fields[4]
                        if sub_id and (sub_id[0] == " " or sub_id[-1] == " "):
                            sub_id = sub_id.strip()
                        status = status_of(fields[11]) if count > 11 else _VALID
                        if status is None:
                            status = status_of(fields[11].strip().upper(), _QUESTIONABLE)
                        raw_unit = fields[6]
                        if raw_unit:
                            unit = units.get(raw_unit) if standard else None
                            if unit is None:
                                unit = unit_of(raw_unit, d)
                        else:
                            unit = plain[2]
                        demo = message_demo or (
                            count > 8 and bool(fields[8]) and is_demo_row(fields, d)
                        )
                        observations.append(
                            new_observation(
                                fixed_device or device_for(sub_id),
                                plain[0],
                                plain[1],
                                number,
                                unit,
                                status,
                                receive_time,
                                (times(fields[14]) if count > 14 and fields[14] else None)
                                or base_time,
                                sub_id,
                                None,
                                message_id,
                                "",
                                demo,
                            )
                        )
                        continue
            if count < 6 or not fields[2] or (not fields[5] and not _unmeasured(fields)):
                # A device-hierarchy row (MDS, VMD, channel): no value, maybe an identity.
                if count > 18 and fields[18]:
                    content.note_equipment(seg)
                    if content.fixed_device() is not fixed_device:
                        fixed_device = content.fixed_device()
                        steady = not observations
                continue
            raw_value = fields[5]
            value_type = fields[2]
            if value_type != "NM":
                value_type = value_type.strip().upper()
            code = codes.get(fields[3]) if standard else None
            if code is None:
                code = identify(fields[3], d)
            if (
                standard
                and code.source_code is None
                and not code.facet
                and code.refid not in waveform.ATTRIBUTES
                and fields[3] not in plain_rows
                and len(plain_rows) < _PLAIN_CODES_LIMIT
            ):
                plain_rows[fields[3]] = (code.mdc, code.label, code.unit)
            sub_id = fields[4]
            if sub_id and (sub_id[0] == " " or sub_id[-1] == " "):
                sub_id = sub_id.strip()
            if code.source_code is not None or code.facet or value_type not in _PLAIN_TYPES:
                if code.facet in alarm_facets:
                    return False
                if value_type in _WAVE_TYPES:
                    wave = waves_by_sub_id[sub_id] = waveform.PendingWave(
                        device=device_for(sub_id),
                        code=code,
                        sub_id=sub_id,
                        value_type=value_type,
                        raw_samples=raw_value,
                        unit=unit_of(fields[6], d) if count > 6 else "",
                        start_ns=(times(fields[14].strip()) if count > 14 else None)
                        or wave_time
                        or base_time,
                        channels=(fresh or channels) if value_type == "MA" else channels,
                        valid=STATUS.get((fields[11] if count > 11 else "").strip().upper())
                        is not _INVALID,
                    )
                    waves.append(wave)
                    fresh = []
                    continue
                if value_type == "CD":
                    channel = waveform.channel_definition(raw_value, d, sub_id)
                    channels = [*channels, channel]
                    fresh = [*fresh, channel]
                    continue
                if value_type in ("TS", "DTM") and self.trigger == "W01":
                    wave_time = times(raw_value.strip()) or wave_time
                    continue
                if acm.is_mdil_alert(code):
                    alarm = acm.mdil_alert(
                        seg,
                        code,
                        d=d,
                        times=times,
                        base_time_ns=base_time,
                        device=device_for(sub_id),
                        message_id=message_id,
                    )
                    if alarm is not None:
                        if message_demo or is_demo_row(fields, d):
                            alarm = acm.as_demo(alarm)
                        alarms.append(alarm)
                    continue
            if waves and waveform.is_attribute(code):
                waveform.attach(
                    waves,
                    waves_by_sub_id,
                    sub_id=sub_id,
                    code=code,
                    raw_value=raw_value,
                    raw_unit=fields[6] if count > 6 else "",
                    d=d,
                )
                continue
            raw_status = fields[11] if count > 11 else ""
            status = STATUS.get(raw_status)
            if status is None:
                status = STATUS.get(raw_status.strip().upper(), _QUESTIONABLE)
            value: float | str
            if value_type == "NM" and escape not in raw_value and component not in raw_value:
                try:
                    value = float(raw_value)
                    # NaN and ±inf give NaN here (truthy); float() also reads "1_0".
                    if value - value or "_" in raw_value:
                        raise ValueError(raw_value)
                except ValueError:
                    value = raw_value.strip()
                    if status is not _INVALID:  # an unmeasured value stays invalid
                        status = _QUESTIONABLE
            elif value_type == "SN":
                parsed = structured_number(raw_value, d)
                value = parsed if parsed is not None else _joined(raw_value, d)
            elif value_type in _TEXT_TYPES:
                value = text_value(raw_value, value_type, d)
            else:
                value = text_value(raw_value, "ST", d)
                if value_type == "NM":
                    status = _QUESTIONABLE
            raw_unit = fields[6] if count > 6 else ""
            if raw_unit:
                unit = units.get(raw_unit) if standard else None
                if unit is None:
                    unit = unit_of(raw_unit, d)
            else:
                unit = code.unit if value.__class__ is float else ""
            observations.append(
                new_observation(
                    fixed_device or device_for(sub_id),
                    code.mdc,
                    code.label,
                    value,
                    unit,
                    status,
                    receive_time,
                    (times(fields[14]) if count > 14 and fields[14] else None) or base_time,
                    sub_id,
                    code.source_code,
                    message_id,
                    "",
                    message_demo or (count > 8 and bool(fields[8]) and is_demo_row(fields, d)),
                )
            )
        # Every observation went to fixed_device when it never changed (and was set).
        content.add_observations(observations, fixed_device if steady else None)
        for alarm in alarms:
            content.add_alarm(alarm)
        for wave in waves:
            for chunk in waveform.finish(wave, d, window, message_id, self.problems):
                content.add_waveform(chunk)
        return True


_NAN = float("nan")
_PLAIN_CODES: dict[str, tuple[int, str, str]] = {}
"""OBX-3 text (standard delimiters) → (MDC code, label, usual unit) for the codes a plain
number row may take the fast path with: MDC, not an alarm facet, not a waveform's
attribute. Filled by the general path the first time it reads each code (bounded)."""
_NO_PLAIN_CODES: dict[str, tuple[int, str, str]] = {}
"""Stays empty: non-standard delimiters never take the fast path."""
_PLAIN_CODES_LIMIT = 4096
_NUMBERS: dict[str, float] = {}
"""OBX-5 text → its number, for the fast path: float() of text costs more than the rest of
a row, and a ward sends the same few hundred values over and over (bounded)."""
_NUMBERS_LIMIT = 8192


DEMO_FLAGS = frozenset(("DEMO", "TEST", "DEMO-DATA", "TEST-DATA", "DEMODATA", "TESTDATA"))
"""OBX-8 abnormal flags that say a value is demo or test data, written as a monitor in
demo mode writes them (``DEMO``, ``TEST``) or as IEEE 11073-10201 names the measurement
status bits (``demo-data``, ``test-data``); compared upper-case, ``_`` and blanks read ``-``."""
DEMO_PROCESSING_IDS = frozenset(("T", "D"))
"""MSH-11 processing ids of data that is not a patient's: training, debugging (table 0103)."""
_DEMO_TEXTS: dict[str, bool] = {}
"""OBX-8 text (standard delimiters) → whether it says demo/test data (bounded)."""


def is_demo_message(msh: Segment) -> bool:
    """Whether MSH-11 says the whole message is training or debugging data (``T``, ``D``)."""
    return msh.get(11).strip().upper() in DEMO_PROCESSING_IDS


def is_demo_row(fields: list[str], d: Delimiters) -> bool:
    """Whether an OBX row's abnormal flags (OBX-8, any repetition) say demo/test data."""
    raw = fields[8] if len(fields) > 8 else ""
    if not raw:
        return False
    standard = d is STANDARD
    known = _DEMO_TEXTS.get(raw) if standard else None
    if known is None:
        known = any(
            flag.split(d.component, 1)[0].strip().upper().replace("_", "-").replace(" ", "-")
            in DEMO_FLAGS
            for flag in raw.split(d.repetition)
        )
        if standard and len(_DEMO_TEXTS) < 1024:
            _DEMO_TEXTS[raw] = known
    return known


def _unmeasured(fields: list[str]) -> bool:
    """An NM row with no value and OBX-11 ``X``: the device cannot measure it now (a probe
    off, a lead off). It must reach the screen as invalid at once, not fade to stale."""
    if len(fields) <= 11:
        return False
    value_type, status = fields[2], fields[11]
    return (value_type == "NM" or value_type.strip().upper() == "NM") and (
        status == "X" or status.strip().upper() == "X"
    )


def _mds_number(fields: list[str], d: Delimiters) -> str | None:
    """The MDS number of a row that describes a whole device (OBX-4 ``1.0.0.0`` or ``1``,
    or an ``…_MDS`` code); None for a VMD's or a channel's row (a module, not the device).

    Cached per OBX-4 and OBX-3 text: the same hierarchy rows come in every message.
    """
    key = (fields[4] if len(fields) > 4 else "", fields[3] if len(fields) > 3 else "")
    standard = d is STANDARD
    if standard and key in _MDS_ROWS:
        return _MDS_ROWS[key]
    parts = key[0].strip().split(".")
    found: str | None = None
    if _ZERO_PARTS.issuperset(parts[1:]) or identify(key[1], d).refid.endswith("_MDS"):
        found = parts[0]
    if standard and len(_MDS_ROWS) < 4096:
        _MDS_ROWS[key] = found
    return found


_MDS_ROWS: dict[tuple[str, str], str | None] = {}
"""(OBX-4, OBX-3) text (standard delimiters) → the row's MDS number, or None (bounded)."""


new_observation: Callable[
    [
        DeviceId,
        int,
        str,
        float | str,
        str,
        ObservationStatus,
        int,
        int | None,
        str,
        str | None,
        str,
        str,
        bool,
    ],
    Observation,
] = fast_constructor(Observation)
"""``Observation(...)``, positional in the record's field order, at a third of its cost."""
new_report: Callable[
    [
        DeviceId,
        str,
        str,
        int,
        str,
        Location | None,
        str,
        tuple[Observation, ...],
        tuple[WaveformChunk, ...],
        tuple[AlarmEvent, ...],
        str,
    ],
    DeviceReport,
] = fast_constructor(DeviceReport)
"""``DeviceReport(...)``, positional in the record's field order."""
new_decoded: Callable[..., Decoded] = fast_constructor(Decoded)


_ZERO_PARTS = frozenset(("0", ""))
"""The OBX-4 parts after the MDS number that an MDS row has (``1.0.0.0``, ``1``)."""
_Slot = tuple[DeviceId, list[Observation], list[WaveformChunk], list[AlarmEvent]]
"""What one device said in one patient group: the device, its rows by kind."""


class _Content:
    """What one patient group says, sorted by device (a gateway forwards several)."""

    __slots__ = ("_by_device", "_decoder", "_mds", "_single")

    def __init__(self, decoder: _Decoder) -> None:
        self._decoder = decoder
        self._mds: dict[str, DeviceId] = {}
        self._single: DeviceId | None = None
        # By device key: a DeviceId hashes in Python (a dataclass), its key string in C.
        self._by_device: dict[str, _Slot] = {}

    def note_equipment(self, seg: Segment) -> None:
        """An MDS row's OBX-18: the device behind the sender, when it is one of its own."""
        fields = seg.fields
        decoder = self._decoder
        mds = _mds_number(fields, decoder.d)
        if mds is None:
            return  # a VMD or channel's own id (a module): not the device
        sender = decoder.sender
        key = (fields[18], sender.label)
        device = _EQUIPMENT.get(key) if decoder.d is STANDARD else None
        if device is None:
            d = decoder.d
            device = equipment(split_components(fields[18].split(d.repetition)[0], d), sender.label)
            if device is None:
                return
            if d is STANDARD and len(_EQUIPMENT) < 4096:
                _EQUIPMENT[key] = device
        if device.key == sender.key:
            return
        if not (
            device.key.startswith("EUI-64:")
            or not decoder.sender_has_hardware_id
            or decoder.gateway
        ):
            return  # the sender names itself better (an EUI-64) than this id does
        self._mds.setdefault(mds, device)
        self._single = device if len(self._mds) == 1 else None

    def device_for(self, sub_id: str) -> DeviceId:
        if not self._mds:
            return self._decoder.sender
        mds = sub_id.split(".", 1)[0]
        device = self._mds.get(mds)
        if device is not None:
            return device
        return self._single or self._decoder.sender

    def _slot(self, device: DeviceId) -> _Slot:
        slot = self._by_device.get(device.key)
        if slot is None:
            slot = self._by_device[device.key] = (device, [], [], [])
        return slot

    def fixed_device(self) -> DeviceId | None:
        """The device every row belongs to, if one does (no MDS row, or one only)."""
        return self._single if self._mds else self._decoder.sender

    def add_observations(
        self, observations: list[Observation], device: DeviceId | None = None
    ) -> None:
        """Sort observations by device; ``device`` when the caller knows they share one."""
        if not observations:
            return
        if device is not None:
            self._slot(device)[1].extend(observations)
            return
        device = observations[0].device
        if all(o.device is device for o in observations):
            self._slot(device)[1].extend(observations)
            return
        for observation in observations:
            self._slot(observation.device)[1].append(observation)

    def add_waveform(self, chunk: WaveformChunk) -> None:
        self._slot(chunk.device)[2].append(chunk)

    def add_alarm(self, alarm: AlarmEvent) -> None:
        self._slot(alarm.device)[3].append(alarm)

    def reports(
        self, location: Location | None, patient_id: str, patient_name: str = ""
    ) -> list[DeviceReport]:
        decoder = self._decoder
        if not self._by_device:
            # Nothing measured (a keep-alive, an empty report): the device still spoke.
            self._slot(self._single or decoder.sender)
        return [
            new_report(
                device,
                decoder.transport,
                decoder.peer,
                decoder.receive_time_ns,
                decoder.message_id,
                location,
                patient_id,
                tuple(observations),
                tuple(waves),
                tuple(alarms),
                patient_name,
            )
            for device, observations, waves, alarms in self._by_device.values()
        ]


def _names_an_alarm(service: str) -> bool:
    """Whether OBR-4 (the universal service id) is MDC_EVT_ALARM: a PCD-04 alarm order."""
    return service.startswith("196616^") or "MDC_EVT_ALARM" in service


def _joined(raw: str, d: Delimiters) -> str:
    return " ".join(p for p in split_components(raw, d) if p).strip()


def patient_groups(segments: list[Segment]) -> list[list[Segment]]:
    """The segments after MSH, cut at each PID that starts a new patient (at least one
    group, maybe empty)."""
    group: list[Segment] = []
    groups = [group]
    started = False  # the group has a PID, PV1 or OBX: a further PID is another patient
    for seg in segments[1:]:
        name = seg.name
        if name == "PID":
            if started:
                group = []
                groups.append(group)
            started = True
        elif name in ("OBX", "PV1"):
            started = True
        group.append(seg)
    return groups


def order_groups(segments: list[Segment]) -> Iterator[tuple[Segment | None, list[Segment]]]:
    """Each OBR with its OBX rows (rows before any OBR come with None), patient by patient."""
    for group in patient_groups(segments):
        obr: Segment | None = None
        rows: list[Segment] = []
        for seg in group:
            if seg.name == "OBR":
                if rows:
                    yield obr, rows
                obr, rows = seg, []
            elif seg.name == "OBX":
                rows.append(seg)
        if rows:
            yield obr, rows


def _patient_id(pid: Segment) -> str:
    """PID-3's first identifier (devices often send none, or only its type)."""
    return pid.get(3).strip()


_NAMES: dict[str, str] = {}
"""PID-5 as sent → the name (standard delimiters): a monitor sends the same in every message."""


def _patient_name(pid: Segment) -> str:
    """PID-5's first name (XPN: family ^ given ^ …) as ``Family, Given``; empty when not
    sent. HL7's null ``""`` is no name. This runs for every message: cached by the field."""
    fields = pid.fields
    if len(fields) <= 5 or not fields[5]:
        return ""
    raw, d = fields[5], pid.delimiters
    standard = d is STANDARD
    if standard:
        known = _NAMES.get(raw)
        if known is not None:
            return known
    family, _, rest = raw.split(d.repetition, 1)[0].partition(d.component)
    sent = (family, rest.partition(d.component)[0])
    names = [unescape(n.split(d.subcomponent, 1)[0], d).strip() for n in sent]
    name = ", ".join(n for n in names if n and n != '""')
    if standard and len(_NAMES) < 4096:
        _NAMES[raw] = name
    return name


def sender_device(msh: Segment, peer: str) -> DeviceId:
    """The sending device: its EUI-64 from MSH-3 when given, else MSH-3/4, else the peer.

    MSH-3 is an HD (namespace ^ universal id ^ type): the EUI-64 is the universal id
    (``MINDRAY_EGATEWAY^00A037EB2175780F^EUI-64``), or — seen from Dräger — the namespace
    with its type in the second component (``0000000000000001^EUI-64``).
    """
    app = [p.strip() for p in msh.components(3)]
    app += [""] * (3 - len(app))
    namespace, universal, kind = app[0], app[1], app[2]
    facility = msh.get(4).strip()
    eui = ""
    if universal.upper() in _EUI_TYPES and _HEX16.fullmatch(namespace):
        eui = namespace
    elif _HEX16.fullmatch(universal) and (kind.upper() in _EUI_TYPES or not kind):
        eui = universal
    if eui:
        label = facility if namespace == eui else namespace
        return DeviceId(f"EUI-64:{eui.upper()}", label or facility or eui.upper())
    if namespace or facility or universal:
        return DeviceId(f"app:{namespace or universal}|{facility}", namespace or facility)
    host = peer.rsplit(":", 1)[0] if peer.count(":") == 1 else peer
    return DeviceId(f"tcp:{host}", host)


def parse_location(pv1: Segment) -> Location | None:
    """PV1-3 as sent, its parts kept; a bed label in sub-components is found too.

    Forms seen: ``3 West ICU^3002^1``, ``CU1^^Bed001^TAM`` (bed in PL.3, facility in
    PL.4), ``SURGERY^^V2``, ``ICU^^5^XYZ HOSPITAL^^^^^00-0F-14-50-72-99`` (a MAC address in
    PL.9), ``^^Doc1&5&1`` and ``ICU/PCU^^pDemo6&0&0`` (the bed's name in the first
    sub-component), ``^^&10`` (the bed's number in the second).
    """
    d = pv1.delimiters
    raw = pv1.raw(3)
    if d is STANDARD:
        known = _LOCATIONS.get(raw, _UNSEEN)
        if known is not _UNSEEN:
            return known  # type: ignore[return-value]
        location = _location(raw, d)
        if len(_LOCATIONS) < 4096:
            _LOCATIONS[raw] = location
        return location
    return _location(raw, d)


_LOCATIONS: dict[str, Location | None] = {}
_UNSEEN = object()


def _location(field: str, d: Delimiters) -> Location | None:
    raw = field.split(d.repetition, maxsplit=1)[0]
    parts = raw.split(d.component)
    parts += [""] * (4 - len(parts))

    def first(value: str) -> str:
        for sub in value.split(d.subcomponent):
            text = unescape(sub, d).strip() if d.escape and d.escape in sub else sub.strip()
            if text:
                return text
        return ""

    poc, room, bed, facility = first(parts[0]), first(parts[1]), first(parts[2]), first(parts[3])
    if not (poc or room or bed or facility):
        return None
    return Location(raw, poc, room, bed, facility)

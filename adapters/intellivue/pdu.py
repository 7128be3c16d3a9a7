"""One datagram ↔ one typed message (shared/reference/bedside-protocols.md §1.4–§1.8).

:func:`decode` is total: whatever the bytes, it returns one of the message types below or
raises :class:`~adapters.intellivue.wire.DecodeError` with the reason — never another
exception. It reads structure only; what the attributes mean is :mod:`mapping`'s job.

The encoders build the only requests the client sends (:data:`SENDS` in
:mod:`adapters.intellivue.session`): the association and release requests, the MDS Create
result, single and extended polls. Nothing here can build a SET or an action other than a
poll.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from adapters.intellivue import ids
from adapters.intellivue.wire import Cursor, DecodeError, absolute_time_ns, ascii_text

Attributes = dict[int, bytes]
"""An attribute list: attribute id → its value's bytes (the last one sent wins)."""


# --- what the monitor sends ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ConnectIndication:
    """A monitor announcing itself (UDP 24005) and the port its Data Export listens on."""

    system_id: bytes
    manufacturer: str
    model: str
    serial: str
    address: str | None
    """The IPv4 address it gives in NET_ADDR_INFO (the datagram's source is the truth)."""
    session_port: int | None
    """The Data Export UDP port of PCOL_SUPPORT, or None when it offers none."""


@dataclass(frozen=True, slots=True)
class SessionPdu:
    """A session SPDU: accept, refuse, release request/result, abort (or a connect)."""

    spdu: int


@dataclass(frozen=True, slots=True)
class MdsCreate:
    """The monitor's MDS Create event: who it is; the client must answer it."""

    invoke_id: int
    confirmed: bool
    event_time: int
    attributes: Attributes


@dataclass(frozen=True, slots=True)
class ObservationPoll:
    """One object of a poll reply (a numeric, a wave, the alarm monitor …)."""

    context_id: int
    handle: int
    attributes: Attributes


@dataclass(frozen=True, slots=True)
class PollReply:
    """A (part of a) poll result: single or extended, maybe one of several linked parts."""

    invoke_id: int
    extended: bool
    poll_number: int
    sequence_no: int
    rel_time: int
    abs_time_ns: int | None
    obj_class: int
    attr_group: int
    objects: tuple[ObservationPoll, ...]
    linked: tuple[int, int] | None = None
    """(state, count) of a linked result: state 1 first, 2 middle, 3 last."""


@dataclass(frozen=True, slots=True)
class RemoteError:
    """ROER: the monitor refused an operation (errors 0–17 of the reference)."""

    invoke_id: int
    error: int


@dataclass(frozen=True, slots=True)
class Other:
    """A well-formed message the client has no use for (an event, a GET result …)."""

    what: str
    invoke_id: int = 0
    confirmed_event: tuple[int, int, int] | None = field(default=None)
    """(invoke id, event type, event time) of a confirmed event that must be answered."""


Message = ConnectIndication | SessionPdu | MdsCreate | PollReply | RemoteError | Other


def decode(data: bytes | memoryview) -> Message:
    """The message in one datagram (or one MIB frame's user data)."""
    if len(data) < 4:
        raise DecodeError(f"{len(data)} bytes: shorter than any message")
    head = bytes(data[:4])
    if head == ids.DATA_HEADER:
        return _data_export(Cursor(data, 4))
    if head == ids.INDICATION_HEADER:
        return _indication(Cursor(data, 4))
    spdu = data[0]
    if spdu in (
        ids.SPDU_ACCEPT,
        ids.SPDU_REFUSE,
        ids.SPDU_FINISH,
        ids.SPDU_DISCONNECT,
        ids.SPDU_ABORT,
        ids.SPDU_CONNECT,
    ):
        _session_length(Cursor(data, 1))
        return SessionPdu(spdu)
    raise DecodeError(f"starts {head.hex(' ')}: neither data export nor a session SPDU")


def _session_length(cursor: Cursor) -> int:
    length = cursor.u8()
    if length == 0xFF:
        length = cursor.u16()
    if length > cursor.left:
        raise DecodeError(f"session PDU says {length} bytes, {cursor.left} follow")
    return length


def attribute_list(cursor: Cursor) -> Attributes:
    count, length = cursor.u16x2()
    body = cursor.sub(length)
    out: Attributes = {}
    for _ in range(count):
        attribute, size = body.u16x2()
        out[attribute] = body.take(size)
    return out


def _indication(cursor: Cursor) -> ConnectIndication:
    ro_type, length = cursor.u16x2()
    if ro_type != ids.ROIV:
        raise DecodeError(f"connect indication with remote operation type {ro_type}")
    body = cursor.sub(length)
    _invoke, command, arg_length = body.u16x3()
    arg = body.sub(arg_length)
    _moc = arg.u16x3()
    arg.skip(4)  # event time
    event, event_length = arg.u16x2()
    if command not in (ids.EVENT_REPORT, ids.CONFIRMED_EVENT_REPORT):
        raise DecodeError(f"connect indication with command {command}")
    if event != ids.EVT_CONNECT_INDICATION:
        raise DecodeError(f"event 0x{event:04x} on the indication port")
    attributes = attribute_list(arg.sub(event_length))
    manufacturer, model = model_strings(attributes.get(ids.ATTR_ID_MODEL, b""))
    return ConnectIndication(
        system_id=system_id(attributes),
        manufacturer=manufacturer,
        model=model,
        serial=serial_number(attributes.get(ids.ATTR_ID_PROD_SPECN, b"")),
        address=_ipv4(attributes.get(ids.ATTR_NET_ADDR_INFO, b"")),
        session_port=_session_port(attributes.get(ids.ATTR_PCOL_SUPPORT, b"")),
    )


def system_id(attributes: Attributes) -> bytes:
    raw = attributes.get(ids.ATTR_SYS_ID, b"")
    if not raw:
        return b""
    cursor = Cursor(raw)
    return cursor.take(cursor.u16())


def model_strings(raw: bytes) -> tuple[str, str]:
    """ID_MODEL: the manufacturer and the model number (length-prefixed octet strings)."""
    if not raw:
        return "", ""
    cursor = Cursor(raw)
    manufacturer = ascii_text(cursor.take(cursor.u16()))
    model = ascii_text(cursor.take(cursor.u16())) if cursor.left >= 2 else ""
    return manufacturer, model


def serial_number(raw: bytes) -> str:
    """PROD_SPECN's entry of spec type 1 (serial number), or ''."""
    if not raw:
        return ""
    cursor = Cursor(raw)
    count, length = cursor.u16x2()
    body = cursor.sub(length)
    for _ in range(count):
        spec_type, _component = body.u16x2()
        value = body.take(body.u16())
        if spec_type == 1:
            return ascii_text(value)
    return ""


def _ipv4(raw: bytes) -> str | None:
    if len(raw) < 10:
        return None
    return ".".join(str(b) for b in raw[6:10])


def _session_port(raw: bytes) -> int | None:
    if not raw:
        return None
    cursor = Cursor(raw)
    count, length = cursor.u16x2()
    body = cursor.sub(length)
    for _ in range(count):
        appl, trans = body.u16x2()
        port, _options = body.u16x2()
        if appl == ids.APPL_DATA_OUT and trans == ids.TRANS_UDP:
            return port
    return None


def _data_export(cursor: Cursor) -> Message:
    ro_type, length = cursor.u16x2()
    body = cursor.sub(length)
    if ro_type == ids.ROIV:
        invoke, command, arg_length = body.u16x3()
        return _invoke(invoke, command, body.sub(arg_length))
    if ro_type == ids.RORS:
        invoke, command, res_length = body.u16x3()
        return _result(invoke, command, body.sub(res_length), None)
    if ro_type == ids.RORLS:
        state, count = body.u8(), body.u8()
        if state not in (ids.LINKED_FIRST, ids.LINKED_MIDDLE, ids.LINKED_LAST):
            raise DecodeError(f"linked result state {state}")
        invoke, command, res_length = body.u16x3()
        return _result(invoke, command, body.sub(res_length), (state, count))
    if ro_type == ids.ROER:
        invoke, error = body.u16x2()
        return RemoteError(invoke, error)
    raise DecodeError(f"remote operation type {ro_type}")


def _invoke(invoke: int, command: int, arg: Cursor) -> Message:
    if command not in (ids.EVENT_REPORT, ids.CONFIRMED_EVENT_REPORT):
        return Other(f"invoke of command {command}", invoke)
    _moc = arg.u16x3()
    event_time = arg.u32()
    event, event_length = arg.u16x2()
    confirmed = command == ids.CONFIRMED_EVENT_REPORT
    if event == ids.EVT_MDS_CREATE:
        return MdsCreate(invoke, confirmed, event_time, attribute_list(arg.sub(event_length)))
    answer = (invoke, event, event_time) if confirmed else None
    return Other(f"event 0x{event:04x}", invoke, answer)


def _result(invoke: int, command: int, res: Cursor, linked: tuple[int, int] | None) -> Message:
    if command != ids.CONFIRMED_ACTION:
        return Other(f"result of command {command}", invoke)
    _moc = res.u16x3()
    action, length = res.u16x2()
    if action not in (ids.ACT_POLL, ids.ACT_POLL_EXT):
        return Other(f"result of action 0x{action:04x}", invoke)
    reply = res.sub(length)
    extended = action == ids.ACT_POLL_EXT
    poll_number = reply.u16()
    sequence_no = reply.u16() if extended else 0
    rel_time = reply.u32()
    abs_time = absolute_time_ns(reply.take(8))
    _partition, obj_class = reply.u16x2()
    attr_group = reply.u16()
    return PollReply(
        invoke_id=invoke,
        extended=extended,
        poll_number=poll_number,
        sequence_no=sequence_no,
        rel_time=rel_time,
        abs_time_ns=abs_time,
        obj_class=obj_class,
        attr_group=attr_group,
        objects=_poll_info(reply),
        linked=linked,
    )


def _poll_info(cursor: Cursor) -> tuple[ObservationPoll, ...]:
    count, length = cursor.u16x2()
    body = cursor.sub(length)
    objects: list[ObservationPoll] = []
    for _ in range(count):
        context, n, size = body.u16x3()
        polls = body.sub(size)
        for _ in range(n):
            handle = polls.u16()
            objects.append(ObservationPoll(context, handle, attribute_list(polls)))
    return tuple(objects)


# --- what the client sends --------------------------------------------------------------

_AARQ_HEAD = bytes.fromhex(
    "0dff0128050813010016010280001402"
    "0002c1ff01163180a0808001010000a2"
    "80a003000001a4803080020101060452"
    "01000130800602510100000000308002"
    "0102060c2a8648ce1402010000000101"
    "3080060c2a8648ce1402010000000201"
    "00000000000061803080020101a08060"
    "80a180060c2a8648ce14020100000003"
    "010000be802880060c2a8648ce140201"
    "000000010102010281820080"
)
"""The session and presentation layers of the Association Request, as every published
client sends them (bedside-protocols.md §1.6); the user information follows (128 bytes)."""
_USER_INFO_SIZE = 128
_MDS_SUPPORT = (
    (ids.MOC_MDS, 1),
    (ids.MOC_NU, 0xC9),
    (ids.MOC_SA_RT, 0x3C),
    (ids.MOC_ENUM, 0x10),
    (ids.MOC_PT_DEMOG, 1),
    (ids.MOC_AL_MON, 1),
)
POLL_EXT_OPTIONS = 0x8E000000
"""Numerics every second, waves (RTSA), enumerations and the numerics priority list."""


def association_request(min_poll_ticks: int = 4000) -> bytes:
    """CN: ask for a Data Export association (a client, hot start, 1456-byte MTU)."""
    poll_ext = struct.pack(">HHII", 0xF001, 8, POLL_EXT_OPTIONS, 0)
    poll_profile = (
        struct.pack(">IIIIII", 0x80000000, min_poll_ticks, 1456, 1456, 0xFFFFFFFF, 0x60000000)
        + struct.pack(">HH", 1, len(poll_ext))
        + poll_ext
    )
    support = b"".join(struct.pack(">HHI", ids.PART_OBJ, moc, n) for moc, n in _MDS_SUPPORT)
    mdib = struct.pack(">HH", len(_MDS_SUPPORT), len(support)) + support
    profiles = (
        struct.pack(">HH", 0x0001, len(poll_profile))
        + poll_profile
        + struct.pack(">HH", 0x0102, len(mdib))
        + mdib
    )
    user_info = (
        struct.pack(">IIIII", 0x80000000, 0x40000000, 0, 0x80000000, 0x20000000)
        + struct.pack(">HH", 0, 0)
        + struct.pack(">HH", 2, len(profiles))
        + profiles
    )
    assert len(user_info) == _USER_INFO_SIZE, len(user_info)
    return _AARQ_HEAD + user_info + bytes(16)


RELEASE_REQUEST = bytes.fromhex("0918c11661803080020101a08062808001000000000000000000")
"""FN: end the association (VSCaptureMP's ``rlrq_msg``)."""


def _data(ro_type: int, invoke: int, command: int, argument: bytes) -> bytes:
    inner = struct.pack(">HHH", invoke, command, len(argument)) + argument
    return ids.DATA_HEADER + struct.pack(">HH", ro_type, len(inner)) + inner


_MDS = struct.pack(">HHH", ids.MOC_MDS, 0, 0)


def event_result(invoke_id: int, event_type: int, current_time: int) -> bytes:
    """The result a confirmed event asks for (the MDS Create result, above all)."""
    result = _MDS + struct.pack(">IHH", current_time & 0xFFFFFFFF, event_type, 0)
    return _data(ids.RORS, invoke_id, ids.CONFIRMED_EVENT_REPORT, result)


def poll(invoke_id: int, poll_number: int, obj_class: int, attr_group: int = 0) -> bytes:
    """A single poll: one reply with the objects of ``obj_class``."""
    request = struct.pack(">HHHH", poll_number, ids.PART_OBJ, obj_class, attr_group)
    argument = _MDS + struct.pack(">IHH", 0, ids.ACT_POLL, len(request)) + request
    return _data(ids.ROIV, invoke_id, ids.CONFIRMED_ACTION, argument)


def poll_extended(
    invoke_id: int, poll_number: int, obj_class: int, attr_group: int, period_ticks: int
) -> bytes:
    """An extended poll: the monitor replies by itself for ``period_ticks`` (1/8 ms)."""
    period = struct.pack(">HHI", ids.ATTR_TIME_PD_POLL, 4, period_ticks)
    request = (
        struct.pack(">HHHHHH", poll_number, ids.PART_OBJ, obj_class, attr_group, 1, len(period))
        + period
    )
    argument = _MDS + struct.pack(">IHH", 0, ids.ACT_POLL_EXT, len(request)) + request
    return _data(ids.ROIV, invoke_id, ids.CONFIRMED_ACTION, argument)

"""The simulated IntelliVue's own bytes: what a Philips monitor puts in a Data Export datagram.

Encoders for the types of the Data Export protocol as ``/work/wt/intellivue-wire.md``
gives them (FLOAT, BCD AbsoluteTime, 1/8-ms RelativeTime, UTF-16BE strings, attribute
lists), the session SPDUs, the ROSE headers and the poll results; and the little decoding
a monitor needs of what a client sends (association, MDS Create result, polls, release,
abort). Decoding is total: any datagram gives a :data:`Request` or ``None``.

This module is the simulator's second, independent reading of the protocol, so that a
round trip between the gateway's client and the simulator tests something: it must not
import the gateway's IntelliVue codec (nor anything under ``gateway``/``adapters``), and it
knows nothing of patients, sessions or sockets.
"""

from __future__ import annotations

import math
import struct
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

# ---------------------------------------------------------------- identifiers

CONNECT_INDICATION_CLASS = 0x0023
"""The managed-object class of the real MX450's Connect Indication (not MDS 0x21)."""
MDS, NU, SA_RT, PT_DEMOG, AL_MON = 0x0021, 0x0006, 0x0009, 0x002A, 0x0036
"""Object classes (partition OBJ)."""
EVENT_CONNECT_INDICATION, EVENT_MDS_CREATE = 0x0D17, 0x0D06
ACT_POLL, ACT_POLL_EXT = 0x0C16, 0xF13B
ROIV, RORS, ROER, RORLS = 1, 2, 3, 5
EVENT_REPORT, CONFIRMED_EVENT_REPORT, GET, SET, CONFIRMED_SET, CONFIRMED_ACTION = 0, 1, 3, 4, 5, 7
COMMAND_NAMES = {
    EVENT_REPORT: "EVENT_REPORT",
    CONFIRMED_EVENT_REPORT: "CONFIRMED_EVENT_REPORT",
    GET: "GET",
    SET: "SET",
    CONFIRMED_SET: "CONFIRMED_SET",
    CONFIRMED_ACTION: "CONFIRMED_ACTION",
}
RO_NAMES = {ROIV: "ROIV", RORS: "RORS", ROER: "ROER", RORLS: "RORLS"}
ERR_ACCESS_DENIED, ERR_NO_SUCH_ACTION = 2, 9

# Attribute ids.
ATTR_AL_MON_P_AL_LIST, ATTR_AL_MON_T_AL_LIST, ATTR_DEV_AL_COND = 0x0902, 0x0904, 0x0916
ATTR_ID_BED_LABEL, ATTR_ID_LABEL, ATTR_ID_LABEL_STRING = 0x091E, 0x0924, 0x0927
ATTR_ID_MODEL, ATTR_PROD_SPECN, ATTR_LOCALIZN = 0x0928, 0x092D, 0x0937
ATTR_NU_CMPD_VAL_OBS, ATTR_NU_VAL_OBS = 0x094B, 0x0950
ATTR_PT_DOB, ATTR_PT_ID, ATTR_PT_NAME_FAMILY, ATTR_PT_NAME_GIVEN = 0x0958, 0x095A, 0x095C, 0x095D
ATTR_SA_SPECN, ATTR_SA_VAL_OBS, ATTR_SCALE_SPECN_I16 = 0x096D, 0x096E, 0x096F
ATTR_SYS_ID, ATTR_SYS_TYPE, ATTR_TIME_ABS = 0x0984, 0x0986, 0x0987
ATTR_TIME_PD_SAMP, ATTR_TIME_REL, ATTR_TIME_STAMP_ABS, ATTR_UNIT_CODE = (
    0x098D,
    0x098F,
    0x0990,
    0x0996,
)
ATTR_NET_ADDR_INFO, ATTR_PCOL_SUPPORT, ATTR_TIME_PD_POLL = 0xF100, 0xF101, 0xF13E

SYS_TYPE_MULTI_PARAM = 0x114D
"""NOM_DEV_MON_PHYSIO_MULTI_PARAM_MDS, as the real capture's SYS_TYPE."""
SYST_SERVER = 0x00800000
APPL_ACSE, APPL_DATA_OUT, TRANS_UDP = 1, 5, 1
STR_ALMON_INFO = 516
TICKS_PER_S = 8000
"""RelativeTime counts 125 µs."""
MTU = 1456
"""The largest datagram both sides accept (max_mtu_rx/tx of the association)."""

# State bits.
MEAS_INVALID, MEAS_DEMO_DATA, MEAS_IN_ALARM = 0x8000, 0x0400, 0x0002
AL_STATE_DEMO, AL_STATE_NEW = 0x0100, 0x0008

# ---------------------------------------------------------------- primitives

FLOAT_NAN, FLOAT_NRES, FLOAT_POS_INF, FLOAT_NEG_INF = 0x007FFFFF, 0x00800000, 0x007FFFFE, 0x00800002
_MANTISSA_MAX = 0x7FFFFD  # above: the special values


def float_word(value: float, decimals: int = 0) -> int:
    """The 32-bit IntelliVue FLOAT of ``value`` with ``decimals`` digits after the point.

    NaN and ±INF get their special mantissas; a value too big for 23 bits loses digits
    (the exponent grows) rather than wrapping.
    """
    if math.isnan(value):
        return FLOAT_NAN
    if math.isinf(value):
        return FLOAT_POS_INF if value > 0 else FLOAT_NEG_INF
    exponent = -decimals
    mantissa = round(value * 10.0**decimals)
    while abs(mantissa) > _MANTISSA_MAX:
        exponent += 1
        mantissa = round(value / 10.0**exponent)
    if not -128 <= exponent <= 127:
        return FLOAT_POS_INF if value > 0 else FLOAT_NEG_INF
    return ((exponent & 0xFF) << 24) | (mantissa & 0xFFFFFF)


def encode_float(value: float, decimals: int = 0) -> bytes:
    return struct.pack(">I", float_word(value, decimals))


def absolute_time(epoch_s: float | None) -> bytes:
    """The 8 BCD bytes of the monitor's local wall time at ``epoch_s``; None: not set."""
    if epoch_s is None:
        return b"\xff" * 8
    t = time.localtime(epoch_s)
    hundredths = int((epoch_s % 1) * 100)
    fields = (t.tm_year // 100, t.tm_year % 100, t.tm_mon, t.tm_mday, t.tm_hour, t.tm_min)
    return bytes(_bcd(f) for f in (*fields, t.tm_sec, hundredths))


def date_bcd(year: int, month: int, day: int) -> bytes:
    """A date as AbsoluteTime (midnight), for a date of birth."""
    return bytes(_bcd(f) for f in (year // 100, year % 100, month, day, 0, 0, 0, 0))


def _bcd(n: int) -> int:
    return (n // 10) << 4 | n % 10


def relative_time(seconds: float) -> int:
    """RelativeTime ticks (1/8 ms) of ``seconds`` since the monitor started, as a u32."""
    return round(seconds * TICKS_PER_S) & 0xFFFFFFFF


def text(value: str) -> bytes:
    """A String: u16 byte length, UTF-16BE, a 2-byte NUL terminator (counted)."""
    data = value.encode("utf-16-be") + b"\x00\x00"
    return struct.pack(">H", len(data)) + data


def ascii_text(value: str) -> bytes:
    """An octet string as ID_MODEL and PROD_SPECN carry it in the real capture: ASCII,
    NUL-terminated and padded with NULs to an even length."""
    data = value.encode("ascii") + b"\x00"
    data += b"\x00" * (len(data) % 2)
    return struct.pack(">H", len(data)) + data


def u16(n: int) -> bytes:
    return struct.pack(">H", n)


def u32(n: int) -> bytes:
    return struct.pack(">I", n)


def managed_object(obj_class: int, handle: int = 0, context: int = 0) -> bytes:
    return struct.pack(">HHH", obj_class, context, handle)


def attribute_list(avas: Iterable[tuple[int, bytes]]) -> bytes:
    """``count, length`` then each ``{id, length, value}``."""
    items = [u16(attr_id) + u16(len(value)) + value for attr_id, value in avas]
    body = b"".join(items)
    return u16(len(items)) + u16(len(body)) + body


def counted(entries: Sequence[bytes]) -> bytes:
    """A list of encoded entries as ``count, length, entries``."""
    body = b"".join(entries)
    return u16(len(entries)) + u16(len(body)) + body


# ---------------------------------------------------------------- session SPDUs


def spdu(kind: int, body: bytes) -> bytes:
    """An SPDU: type byte, LI (1 byte below 255, else 0xFF + u16), body."""
    li = bytes([len(body)]) if len(body) < 255 else b"\xff" + u16(len(body))
    return bytes([kind]) + li + body


SPDU_CN, SPDU_AC, SPDU_RF, SPDU_FN, SPDU_DN, SPDU_AB, SPDU_DATA = (
    0x0D, 0x0E, 0x0C, 0x09, 0x0A, 0x19, 0xE1,
)  # fmt: skip
SPDU_NAMES = {SPDU_CN: "CN", SPDU_AC: "AC", SPDU_RF: "RF", SPDU_FN: "FN", SPDU_DN: "DN"}
SPDU_NAMES[SPDU_AB] = "AB"
USER_INFO_MARK = b"\x81\x82\x00\x80"
"""BER tag and length in front of the 128-byte MDSEUserInfoStd of the association PDUs."""
_USER_INFO_SYSTEM_TYPE = 12

RELEASE_RESULT = bytes.fromhex("0A18C116618030800201 01A08063808001 00") + bytes(8)
ABORT = bytes.fromhex(
    "192E110103C129A080A08030800201010602510100000000618030800201 01A0806480800101"
) + bytes(10)
REFUSE = bytes.fromhex("0C03320101")
"""RF with ISO 8327 Reason Code 1 (temporary congestion: the monitor serves another client)."""
DATA_HEADER = b"\xe1\x00\x00\x02"
NOMENCLATURE_HEADER = b"\x00\x00\x01\x00"


def association_result(request: bytes) -> bytes:
    """The AC: the request's body with the user info's system type set to SYST_SERVER."""
    body = bytearray(_spdu_body(request))
    at = body.find(USER_INFO_MARK) + len(USER_INFO_MARK) + _USER_INFO_SYSTEM_TYPE
    body[at : at + 4] = u32(SYST_SERVER)
    return spdu(SPDU_AC, bytes(body))


def _spdu_body(data: bytes) -> bytes:
    if data[1] == 0xFF:
        (length,) = struct.unpack_from(">H", data, 2)
        return data[4 : 4 + length]
    return data[2 : 2 + data[1]]


# ---------------------------------------------------------------- remote operations


def data_message(ro_type: int, apdu: bytes) -> bytes:
    return DATA_HEADER + u16(ro_type) + u16(len(apdu)) + apdu


def invoke(invoke_id: int, command: int, argument: bytes) -> bytes:
    """A ROIV (an event the monitor reports)."""
    return data_message(ROIV, struct.pack(">HHH", invoke_id, command, len(argument)) + argument)


def result(invoke_id: int, command: int, body: bytes) -> bytes:
    """A RORS."""
    return data_message(RORS, struct.pack(">HHH", invoke_id, command, len(body)) + body)


def linked_result(state: int, count: int, invoke_id: int, command: int, body: bytes) -> bytes:
    """One RORLS part: ``state`` 1 first, 2 middle, 3 last; ``count`` its number from 1."""
    header = struct.pack(">BBHHH", state, count, invoke_id, command, len(body))
    return data_message(RORLS, header + body)


def error(invoke_id: int, error_value: int) -> bytes:
    """A ROER with no parameter."""
    return data_message(ROER, struct.pack(">HHH", invoke_id, error_value, 0))


def event_report(obj: bytes, rel_time: int, event_type: int, info: bytes) -> bytes:
    """EventReportArgument."""
    return obj + struct.pack(">IHH", rel_time, event_type, len(info)) + info


def action_result(action_type: int, reply: bytes) -> bytes:
    """ActionResult on the MDS."""
    return managed_object(MDS) + struct.pack(">HH", action_type, len(reply)) + reply


def poll_reply_header(
    poll_number: int,
    sequence_no: int | None,
    *,
    rel_time: int,
    abs_time: bytes,
    obj_class: int,
    attr_group: int,
) -> bytes:
    """PollMdibDataReplyExt's fixed part (PollMdibDataReply's without ``sequence_no``)."""
    seq = b"" if sequence_no is None else u16(sequence_no)
    return (
        u16(poll_number)
        + seq
        + u32(rel_time)
        + abs_time
        + struct.pack(">HHH", 1, obj_class, attr_group)
    )


def observation(handle: int, avas: Iterable[tuple[int, bytes]]) -> bytes:
    """ObservationPoll: the object's handle and its attribute list."""
    return u16(handle) + attribute_list(avas)


def poll_info_list(observations: Sequence[bytes], context_id: int = 0) -> bytes:
    """PollInfoList of one SingleContextPoll holding ``observations``."""
    if not observations:
        return counted([])
    return counted([u16(context_id) + counted(observations)])


LINKED_PART_OVERHEAD = len(DATA_HEADER) + 4 + 2 + 6 + 10 + 4 + 6
"""Bytes of one linked poll-reply part besides its reply header and observations (SPpdu,
ROapdus, linked id, RORLS header, ActionResult header, PollInfoList and context headers)."""


# ---------------------------------------------------------------- what a client sends


@dataclass(frozen=True, slots=True)
class AssociationRequest:
    data: bytes
    min_poll_period: int
    """RelativeTime ticks."""
    max_mtu_rx: int
    """The largest datagram the client takes."""
    name = "CN"


@dataclass(frozen=True, slots=True)
class SessionRequest:
    """Any other SPDU: FN release, AB abort, or one a client should not send (AC, DN…)."""

    kind: int

    @property
    def name(self) -> str:
        return SPDU_NAMES.get(self.kind, f"SPDU 0x{self.kind:02X}")


@dataclass(frozen=True, slots=True)
class MdsCreateResult:
    invoke_id: int
    command: int
    event_type: int

    @property
    def name(self) -> str:
        return f"RORS {COMMAND_NAMES.get(self.command, self.command)}"


@dataclass(frozen=True, slots=True)
class PollRequest:
    invoke_id: int
    action_type: int
    poll_number: int
    obj_class: int
    attr_group: int
    period: int | None
    """RelativeTime ticks of NOM_ATTR_TIME_PD_POLL; None: a single reply."""

    @property
    def extended(self) -> bool:
        return self.action_type == ACT_POLL_EXT

    @property
    def name(self) -> str:
        return "ROIV CONFIRMED_ACTION " + ("POLL_EXT" if self.extended else "POLL")


@dataclass(frozen=True, slots=True)
class OtherOperation:
    """A remote operation the simulator does not serve (a GET, a SET, an unknown action)."""

    ro_type: int
    invoke_id: int
    command: int

    @property
    def name(self) -> str:
        ro = RO_NAMES.get(self.ro_type, str(self.ro_type))
        return f"{ro} {COMMAND_NAMES.get(self.command, str(self.command))}"


Request = AssociationRequest | SessionRequest | MdsCreateResult | PollRequest | OtherOperation


def decode_request(data: bytes) -> Request | None:
    """What a client's datagram asks; None for anything that is not a well-formed PDU."""
    try:
        return _decode(data)
    except (struct.error, IndexError, ValueError):
        return None


def _decode(data: bytes) -> Request | None:
    kind = data[0]
    if kind == SPDU_DATA:
        return _decode_data(data)
    body = _spdu_body(data)
    header = 4 if data[1] == 0xFF else 2
    if len(body) != len(data) - header:
        return None
    if kind != SPDU_CN:
        return SessionRequest(kind)
    at = body.find(USER_INFO_MARK)
    if at < 0 or len(body) < at + len(USER_INFO_MARK) + 128:
        return None
    user_info = at + len(USER_INFO_MARK)
    min_poll, mtu_rx = struct.unpack_from(">II", body, user_info + 36)
    return AssociationRequest(data, min_poll, mtu_rx)


def _decode_data(data: bytes) -> Request | None:
    if data[:4] != DATA_HEADER:
        return None
    ro_type, length = struct.unpack_from(">HH", data, 4)
    if length != len(data) - 8:
        return None
    invoke_id, command, arg_length = struct.unpack_from(">HHH", data, 8)
    if arg_length != length - 6:
        return None
    if ro_type == RORS and command in (EVENT_REPORT, CONFIRMED_EVENT_REPORT):
        (event_type,) = struct.unpack_from(">H", data, 24)
        return MdsCreateResult(invoke_id, command, event_type)
    if ro_type == ROIV and command == CONFIRMED_ACTION:
        obj_class, _, _, _, action, _ = struct.unpack_from(">HHHIHH", data, 14)
        if obj_class == MDS and action in (ACT_POLL, ACT_POLL_EXT):
            poll_number, _, polled_class, group = struct.unpack_from(">HHHH", data, 28)
            return PollRequest(
                invoke_id, action, poll_number, polled_class, group, _poll_period(data, 36)
            )
    return OtherOperation(ro_type, invoke_id, command)


def _poll_period(data: bytes, at: int) -> int | None:
    """NOM_ATTR_TIME_PD_POLL from an extended poll's attribute list, if it has one."""
    if len(data) < at + 4:
        return None
    count, _ = struct.unpack_from(">HH", data, at)
    at += 4
    for _ in range(count):
        attr_id, length = struct.unpack_from(">HH", data, at)
        if attr_id == ATTR_TIME_PD_POLL and length == 4:
            (period,) = struct.unpack_from(">I", data, at + 4)
            return int(period)
        at += 4 + length
    return None

"""Dräger MEDIBUS bytes as a ventilator writes and reads them.

Written from the published protocol definition (rev 4.03: shared/reference/
bedside-protocols.md §3) independently of ``adapters.serial.medibus``, so the simulated
ventilator and the gateway's decoder check each other: commands ``ESC code [argument]
sum CR``, responses ``SOH code data sum CR``, the sum the low byte of everything before it
as two upper-case hex digits; measured data as ``code value`` (2 + 4 characters), alarms as
``priority code phrase`` (1 + 2 + 12), settings ``code value`` (2 + 5), text messages
``code length text ETX``. :func:`read_messages` is the ventilator's side of the line:
every message the gateway sent, named by what it is (``ICC``, ``request measured data
CP1``, ``reply echo`` …, or ``unknown``), which the tests use to check that the gateway
sends nothing else.

Pure functions: this module must not open ports or keep time.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

ESC, SOH, CR, ETX, NAK = 0x1B, 0x01, 0x0D, 0x03, 0x15

COMMAND_NAMES = {
    0x51: "ICC",
    0x30: "NOP",
    0x55: "STOP",
    0x52: "request device id",
    0x24: "request measured data CP1",
    0x27: "request alarms CP1",
    0x29: "request device settings",
    0x2A: "request text messages",
}


@dataclass(frozen=True, slots=True)
class Message:
    command: bool
    code: int
    data: bytes
    name: str
    """What the ventilator takes it for (see the module docstring)."""


def _sum(body: bytes) -> bytes:
    return f"{sum(body) % 256:02X}".encode("ascii")


def command(code: int, argument: bytes = b"") -> bytes:
    body = bytes((ESC, code)) + argument
    return body + _sum(body) + b"\r"


def response(code: int, data: bytes = b"") -> bytes:
    body = bytes((SOH, code)) + data
    return body + _sum(body) + b"\r"


def read_messages(data: bytes) -> tuple[list[Message], bytes]:
    """The messages complete in ``data`` and what is left of an incomplete one."""
    messages = []
    start = -1
    for index, byte in enumerate(data):
        if byte in (ESC, SOH):
            start = index
        elif byte == CR and start >= 0:
            messages.append(_message(data[start : index + 1]))
            start = -1
    rest = data[start:] if start >= 0 else b""
    return messages, rest


def _message(raw: bytes) -> Message:
    body, total = raw[:-3], raw[-3:-1]
    command_ = raw[0] == ESC
    if len(raw) < 5 or _sum(body) != total:
        return Message(command_, -1, raw, "unknown")
    code, data = body[1], body[2:]
    if command_:
        name = COMMAND_NAMES.get(code, "unknown") if not data else "unknown"
    elif code == 0x52:
        name = "reply device id"
    elif code == NAK:
        name = "reply NAK"
    elif not data:
        name = "reply echo"
    else:
        name = "unknown"  # the gateway has no data of its own to answer with
    return Message(command_, code, data, name)


def measured_data(values: Iterable[tuple[int, float | None]]) -> bytes:
    """``code value`` pairs; None is a value the ventilator cannot give (``----``)."""
    out = b""
    for code, value in values:
        text = "----" if value is None else _four(value)
        out += f"{code:02X}{text}".encode("ascii")
    return response(0x24, out)


def _four(value: float) -> str:
    for decimals in (2, 1, 0):
        text = f"{value:.{decimals}f}"
        if len(text) <= 4:
            return text.rjust(4)
    return "9999"


def alarms(entries: Iterable[tuple[int, int, str]]) -> bytes:
    """``(priority 1–31, code, phrase)`` as the alarms response (code page 1)."""
    out = b""
    for priority, code, phrase in entries:
        out += bytes((0x30 + priority,)) + f"{code:02X}{phrase[:12]:<12}".encode("ascii")
    return response(0x27, out)


def settings(values: Iterable[tuple[int, str]]) -> bytes:
    out = b"".join(f"{code:02X}{text[:5]:>5}".encode("ascii") for code, text in values)
    return response(0x29, out)


def text_messages(texts: Iterable[tuple[int, str]]) -> bytes:
    out = b""
    for code, text in texts:
        out += f"{code:02X}".encode("ascii") + bytes((0x30 + len(text),)) + text.encode() + b"\x03"
    return response(0x2A, out)


def device_id(number: str, name: str, revision: str) -> bytes:
    return response(0x52, f"{number}'{name}'{revision}".encode("ascii"))

"""HL7 acknowledgements, in the mode the sender asked for.

Original mode (MSH-15 and MSH-16 empty): one ``AA``/``AE``/``AR``. Enhanced mode: a commit
ACK (``CA``/``CE``/``CR``) when MSH-15 asks for one, an application ACK when MSH-16 does
(``AL`` always, ``NE`` never, ``ER`` on error only, ``SU`` on success only). MSA-2 echoes
MSH-10; a negative ACK carries an ERR segment saying what was wrong and where. Output is
always strict ER7 with the standard delimiters, whatever the sender used.
"""

from __future__ import annotations

import enum
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass

from adapters.hl7.er7 import STANDARD, Message, escape


class Outcome(enum.Enum):
    """What became of a message, in the receiver's terms."""

    ACCEPTED = "accepted"
    ERROR = "error"
    """Could not be processed now (storage failure): the sender should keep it and resend."""
    REJECTED = "rejected"
    """Will never be processed (unparseable, unsupported): resending will not help."""


_ORIGINAL = {Outcome.ACCEPTED: "AA", Outcome.ERROR: "AE", Outcome.REJECTED: "AR"}
_COMMIT = {Outcome.ACCEPTED: "CA", Outcome.ERROR: "CE", Outcome.REJECTED: "CR"}
# MSH-15/16 (HL7 table 0155): whether an ACK is wanted, given success.
_WANTED: dict[str, Callable[[bool], bool]] = {
    "AL": lambda ok: True,
    "NE": lambda ok: False,
    "ER": lambda ok: not ok,
    "SU": lambda ok: ok,
}
_ids = itertools.count(1)

# HL7 table 0357 (message error condition codes) — the ones the gateway reports.
ERROR_TEXT = {
    100: "Segment sequence error",
    101: "Required field missing",
    102: "Data type error",
    200: "Unsupported message type",
    206: "Application record locked",
    207: "Application internal error",
}


@dataclass(frozen=True, slots=True)
class AckError:
    """What a negative ACK's ERR segment says: a table-0357 code, text, and where."""

    code: int
    text: str
    segment: str = ""
    field: int | None = None

    def er7(self) -> str:
        location = escape(self.segment)
        if self.segment and self.field:
            location += f"^1^{self.field}"  # ERR-2 (ERL): segment ^ sequence ^ field
        condition = f"{self.code}^{ERROR_TEXT.get(self.code, '')}^HL70357"
        return f"ERR||{location}|{condition}|E||||{escape(self.text)}"


def acknowledgements(
    message: Message | None,
    outcome: Outcome,
    *,
    sender: str = "ICU-GATEWAY",
    facility: str = "",
    error: AckError | None = None,
    control_id: str = "",
    commit_only: bool = False,
) -> list[bytes]:
    """The ACK messages (unframed) to send for ``message``; ``[]`` when none is wanted.

    ``message`` is None when the bytes could not be parsed at all: the answer is then a
    reject in original mode, echoing ``control_id`` if one could be salvaged.
    ``commit_only`` answers with exactly one commit ACK (``CA``/``CE``/``CR``) whatever
    MSH-15/16 say: Dräger's watchdog expects ``ACK^R40`` with ``MSA|CA`` and nothing else.
    """
    if message is None:
        return [_ack("AR", control_id, None, sender=sender, facility=facility, error=error)]
    cid = message.control_id
    if commit_only:
        return [_ack(_COMMIT[outcome], cid, message, sender=sender, facility=facility, error=error)]
    msh = message.msh
    codes = _plan(msh.raw(15), msh.raw(16))[outcome]
    return [
        _ack(code, cid, message, sender=sender, facility=facility, error=error) for code in codes
    ]


_PLANS: dict[tuple[str, str], dict[Outcome, tuple[str, ...]]] = {}


def _plan(accept_field: str, application_field: str) -> dict[Outcome, tuple[str, ...]]:
    """MSA-1 codes to send for each outcome, given MSH-15 and MSH-16 as sent (cached: a
    sender asks the same way every time)."""
    key = (accept_field, application_field)
    plan = _PLANS.get(key)
    if plan is not None:
        return plan
    accept = accept_field.split("^", 1)[0].strip().upper()
    application = application_field.split("^", 1)[0].strip().upper()
    plan = {}
    for outcome in Outcome:
        ok = outcome is Outcome.ACCEPTED
        if not accept and not application:
            plan[outcome] = (_ORIGINAL[outcome],)
            continue
        codes: list[str] = []
        if _WANTED.get(accept, _WANTED["AL"])(ok):
            codes.append(_COMMIT[outcome])
        if application and _WANTED.get(application, _WANTED["NE"])(ok):
            codes.append(_ORIGINAL[outcome])
        plan[outcome] = tuple(codes)
    if len(_PLANS) < 64:
        _PLANS[key] = plan
    return plan


def _ack(
    code: str,
    control_id: str,
    message: Message | None,
    *,
    sender: str,
    facility: str,
    error: AckError | None,
) -> bytes:
    head, middle, tail = _header(message, sender, facility)
    segments = [
        f"{head}{_now()}{middle}{next(_ids)}{tail}",
        f"MSA|{code}|{escape(control_id)}",
    ]
    if error is not None:
        # MSA-3 (text) as well as ERR: older receivers (v2.3) read only MSA-3.
        segments[1] += f"|{escape(error.text[:80])}"
        segments.append(error.er7())
    return ("\r".join(segments) + "\r").encode("utf-8")


# What an ACK's MSH says of its sender and receiver, per sender (bounded): a device sends
# the same MSH-3/4/9/11/12 every time, and escaping them again each time is wasted work.
_HEADERS: dict[tuple[str, ...], tuple[str, str, str]] = {}


def _header(message: Message | None, sender: str, facility: str) -> tuple[str, str, str]:
    """The ACK's MSH up to MSH-7, from MSH-8 to MSH-10, and after MSH-10."""
    if message is None:
        key: tuple[str, ...] = ("", sender, facility)
    else:
        msh = message.msh
        key = (msh.raw(3), msh.raw(4), msh.raw(9), msh.raw(11), msh.raw(12), sender, facility)
        if message.delimiters is not STANDARD:
            key = (*key, message.delimiters.field, message.delimiters.encoding_characters)
    found = _HEADERS.get(key)
    if found is None:
        found = _build_header(message, sender, facility)
        if len(_HEADERS) < 1024:
            _HEADERS[key] = found
    return found


def _build_header(message: Message | None, sender: str, facility: str) -> tuple[str, str, str]:
    if message is not None:
        msh = message.msh
        receiver = "^".join(escape(c) for c in msh.components(3))
        receiver_facility = "^".join(escape(c) for c in msh.components(4))
        trigger = escape(message.message_type[1])
        version = escape(msh.get(12)) or "2.6"
        processing = escape(msh.get(11)) or "P"
    else:
        receiver = receiver_facility = trigger = ""
        version, processing = "2.6", "P"
    head = f"MSH|^~\\&|{escape(sender)}|{escape(facility)}|{receiver}|{receiver_facility}|"
    return head, f"||ACK^{trigger}^ACK|", f"|{processing}|{version}"


_CLOCK: list[int | str] = [0, ""]
"""The second last formatted, and its text (MSH-7 of our ACKs)."""


def _now() -> str:
    """MSH-7 of an ACK: local time with its offset, formatted once per second."""
    second = int(time.time())
    if _CLOCK[0] != second:
        _CLOCK[:] = [second, time.strftime("%Y%m%d%H%M%S%z", time.localtime(second))]
    return str(_CLOCK[1])

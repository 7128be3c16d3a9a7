"""HL7 acknowledgements, in the mode the sender asked for.

Original mode (MSH-15 and MSH-16 empty): one ``AA``/``AE``/``AR``. Enhanced mode: a commit
ACK (``CA``/``CE``/``CR``) when MSH-15 asks for one, an application ACK when MSH-16 does
(``AL`` always, ``NE`` never, ``ER`` on error only, ``SU`` on success only). A value
that is none of these is read as ``AL`` for MSH-15, and for MSH-16 as ``NE`` — or as ``AL``
when MSH-15 is ``NE``, so a sender never gets silence because of a field the gateway could
not read; :func:`mode_problem` says so, for the listener to report. MSA-2 echoes
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
from gateway.errors import ParseError


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

    @classmethod
    def unreadable(cls, exc: ParseError) -> AckError:
        """The ERR of a reject for a message that could not be taken in: 200 (unsupported
        message type) when MSH-9 is what failed, else 100, with the segment and field."""
        return cls(200 if exc.field == 9 else 100, str(exc), exc.segment or "", exc.field)

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
        header = _header(None, sender, facility)
        return [_ack(header, "AR", escape(control_id), error)]
    header = _header(message, sender, facility)
    cid = message.control_id
    msh = message.msh
    # MSH-10 read with the standard delimiters and no escape in it holds no delimiter (the
    # parse split them all off): it goes into MSA-2 as it is, no escaping to do.
    if message.delimiters is not STANDARD or "\\" in msh.raw(10):
        cid = escape(cid)
    if commit_only:
        return [_ack(header, _COMMIT[outcome], cid, error)]
    # By identity, not through a dict: hashing an enum member is a Python-level call.
    if outcome is Outcome.ACCEPTED:
        codes = header.accepted
    elif outcome is Outcome.ERROR:
        codes = header.failed
    else:
        codes = header.rejected
    return [_ack(header, code, cid, error) for code in codes]


def mode_problem(message: Message) -> str:
    """What could not be read of the acknowledgement mode the sender asked for (MSH-15/16),
    and how it is answered instead; ``""`` when both were read."""
    return _header(message, "", "").problem


def _plan(accept_field: str, application_field: str) -> tuple[dict[Outcome, tuple[str, ...]], str]:
    """MSA-1 codes to send for each outcome, given MSH-15 and MSH-16 as sent; and what of
    them could not be read (``""``: both were)."""
    accept = accept_field.split("^", 1)[0].strip().upper()
    application = application_field.split("^", 1)[0].strip().upper()
    problems = []
    if accept and accept not in _WANTED:
        problems.append(f"MSH-15 {accept_field[:20]!r} is not AL, NE, ER or SU: read as AL")
    if application and application not in _WANTED:
        instead = "AL" if accept == "NE" else "NE"
        problems.append(
            f"MSH-16 {application_field[:20]!r} is not AL, NE, ER or SU: read as {instead}"
        )
        application = instead
    plan: dict[Outcome, tuple[str, ...]] = {}
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
    return plan, "; ".join(problems)


def _ack(header: _Header, code: str, control_id: str, error: AckError | None) -> bytes:
    """One ACK; ``control_id`` already escaped for MSA-2."""
    text = f"{header.head}{_now()}{header.middle}{next(_ids)}{header.tail}{code}|{control_id}"
    if error is not None:
        # MSA-3 (text) as well as ERR: older receivers (v2.3) read only MSA-3.
        text += f"|{escape(error.text[:80])}\r{error.er7()}"
    return (text + "\r").encode("utf-8")


@dataclass(frozen=True, slots=True)
class _Header:
    """What the ACKs to one sender share: the MSH around MSH-7 and MSH-10, and which codes
    each outcome gets (MSH-15/16)."""

    head: str
    """MSH up to MSH-7 (our time)."""
    middle: str
    """From MSH-8 to MSH-10 (our control id)."""
    tail: str
    """After MSH-10, up to MSA-1 (the code)."""
    accepted: tuple[str, ...]
    """MSA-1 codes to send when the message was taken in; ``failed``: when it could not
    be stored; ``rejected``: when it never will be."""
    failed: tuple[str, ...]
    rejected: tuple[str, ...]
    problem: str = ""
    """What of MSH-15/16 could not be read (see :func:`mode_problem`)."""


# Per sender (bounded): a device sends the same MSH-3/4/9/11/12/15/16 every time, and
# escaping and planning again each time is wasted work on the hot path.
_HEADERS: dict[tuple[str, ...], _Header] = {}
_MSH_FIELDS = 17  # MSH-0 … MSH-16: those the key reads


def _header(message: Message | None, sender: str, facility: str) -> _Header:
    if message is None:
        key: tuple[str, ...] = ("", sender, facility)
    else:
        fields = message.msh.fields
        if len(fields) < _MSH_FIELDS:
            fields = fields + [""] * (_MSH_FIELDS - len(fields))
        key = (
            fields[3],
            fields[4],
            fields[9],
            fields[11],
            fields[12],
            fields[15],
            fields[16],
            sender,
            facility,
        )
        if message.delimiters is not STANDARD:
            key = (*key, message.delimiters.field, message.delimiters.encoding_characters)
    found = _HEADERS.get(key)
    if found is None:
        found = _build_header(message, sender, facility)
        if len(_HEADERS) < 1024:
            _HEADERS[key] = found
    return found


def _build_header(message: Message | None, sender: str, facility: str) -> _Header:
    if message is not None:
        msh = message.msh
        receiver = "^".join(escape(c) for c in msh.components(3))
        receiver_facility = "^".join(escape(c) for c in msh.components(4))
        trigger = escape(message.message_type[1])
        version = escape(msh.get(12)) or "2.6"
        processing = escape(msh.get(11)) or "P"
        plan, problem = _plan(msh.raw(15), msh.raw(16))
    else:
        receiver = receiver_facility = trigger = ""
        version, processing = "2.6", "P"
        plan, problem = _plan("", "")
    head = f"MSH|^~\\&|{escape(sender)}|{escape(facility)}|{receiver}|{receiver_facility}|"
    return _Header(
        head,
        f"||ACK^{trigger}^ACK|",
        f"|{processing}|{version}\rMSA|",
        plan[Outcome.ACCEPTED],
        plan[Outcome.ERROR],
        plan[Outcome.REJECTED],
        problem,
    )


_clock_second = 0
_clock_text = ""
"""The second last formatted, and its text (MSH-7 of our ACKs)."""


def _now() -> str:
    """MSH-7 of an ACK: local time with its offset, formatted once per second."""
    global _clock_second, _clock_text  # noqa: PLW0603 - a one-entry cache of the clock
    second = int(time.time())
    if second != _clock_second:
        _clock_text = time.strftime("%Y%m%d%H%M%S%z", time.localtime(second))
        _clock_second = second
    return _clock_text

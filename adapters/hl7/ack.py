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

from adapters.hl7.er7 import Message, escape


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
) -> list[bytes]:
    """The ACK messages (unframed) to send for ``message``; ``[]`` when none is wanted.

    ``message`` is None when the bytes could not be parsed at all: the answer is then a
    reject in original mode, echoing ``control_id`` if one could be salvaged.
    """
    if message is None:
        return [_ack("AR", control_id, None, sender=sender, facility=facility, error=error)]
    msh = message.msh
    accept, application = msh.get(15).strip().upper(), msh.get(16).strip().upper()
    ok = outcome is Outcome.ACCEPTED
    cid = message.control_id
    if not accept and not application:
        return [
            _ack(_ORIGINAL[outcome], cid, message, sender=sender, facility=facility, error=error)
        ]
    acks = []
    if _WANTED.get(accept, _WANTED["AL"])(ok):
        acks.append(
            _ack(_COMMIT[outcome], cid, message, sender=sender, facility=facility, error=error)
        )
    if application and _WANTED.get(application, _WANTED["NE"])(ok):
        acks.append(
            _ack(_ORIGINAL[outcome], cid, message, sender=sender, facility=facility, error=error)
        )
    return acks


def _ack(
    code: str,
    control_id: str,
    message: Message | None,
    *,
    sender: str,
    facility: str,
    error: AckError | None,
) -> bytes:
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
    now = time.strftime("%Y%m%d%H%M%S%z")
    segments = [
        f"MSH|^~\\&|{escape(sender)}|{escape(facility)}|{receiver}|{receiver_facility}|{now}||"
        f"ACK^{trigger}^ACK|{next(_ids)}|{processing}|{version}",
        f"MSA|{code}|{escape(control_id)}",
    ]
    if error is not None:
        segments.append(error.er7())
    return ("\r".join(segments) + "\r").encode("utf-8")

"""The contract every serial device protocol keeps, and what its decoder hands the reader.

A protocol module (``masimo``, ``nonin``, ``ivy``, ``hl7``, ``ge_s5``, ``medibus``) has the
same shape each time: a ``Decoder`` class that is fed the bytes as the port delivers them
and returns each complete line or frame group as :class:`Accepted` (the domain records it
says) or :class:`Rejected` (why not), and a ``PROTOCOL`` entry that names it for
:mod:`adapters.serial.registry`.

Most devices talk on their own. A protocol that must be asked (GE S/5: request records;
Dräger MEDIBUS: a peer-to-peer dialogue with keep-alives) has a decoder that is also a
:class:`SerialConversation`: it says what to send when the port opens, what is due as time
passes, what to send before the gateway lets go of the port, and (in :attr:`Accepted.reply`)
the reply a device's own request demands. Each of those is an :class:`Outgoing` naming its
command; the protocol lists the commands it may ever send (:attr:`DeviceProtocol.sends`)
and the reader writes nothing else — the gateway stays read-only towards the device: it
asks for data and keeps the link alive, it never sets anything.

A decoder keeps what a byte stream needs between reads — a partial line, half a packet,
which status flags are up — and nothing of the port, the hub or the clock: the reader
gives it the receive time. It never raises for bad input, and what it buffers is bounded.
Bytes it drops while finding the stream's rhythm (the reader joined mid-line after the
port opened) are counted in ``discarded``, not reported: every (re)open starts that way.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from gateway.domain import DeviceId, DeviceReport

TRANSPORT = "serial"
"""The transport name of everything read from a serial port (journal, devices screen)."""


def device_key(port: str) -> str:
    """The device key of whatever speaks on ``port``: what ``[[serial]] bed`` binds."""
    return f"serial:{port}"


@dataclass(frozen=True, slots=True)
class SerialSource:
    """Where a decoder's bytes come from: the port (the reports' peer) and its device."""

    port: str
    device: DeviceId
    facility: str = ""
    """The gateway's name, for a protocol that answers (HL7 MSH-4 of its ACKs)."""


@dataclass(frozen=True, slots=True)
class Outgoing:
    """Bytes a protocol needs its device to hear, named by the command they are."""

    command: str
    """One of the protocol's :attr:`DeviceProtocol.sends`: ``phdb-request``, ``NOP`` …"""
    data: bytes


@dataclass(frozen=True, slots=True)
class Turn:
    """What a conversation has to say as time passes: bytes to send, and what went wrong
    (each a fault: the device stopped answering, the link was started again)."""

    sends: tuple[Outgoing, ...] = ()
    problems: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Accepted:
    """A complete line or frame group and the reports it says (may be none)."""

    raw: bytes
    reports: tuple[DeviceReport, ...]
    control_id: str = ""
    problems: tuple[str, ...] = ()
    """What could not be taken in although the record was: each becomes a fault."""
    answer: Callable[[str | None], bytes] | None = None
    """For a protocol that must acknowledge (HL7): the bytes to send once the hub stored
    the record (called with None) or could not (called with the reason)."""
    reply: Outgoing | None = None
    """For a peer protocol (MEDIBUS): the reply the device's own request demands, sent once
    the hub has taken the record in, whether or not the journal could store it (a protocol
    reply says "heard", never "stored")."""


@dataclass(frozen=True, slots=True)
class Rejected:
    """Bytes that are not a usable record: journaled for inspection and a fault."""

    raw: bytes
    reason: str
    control_id: str = ""
    answer: bytes = b""
    """A negative acknowledgement to send back (HL7 only); empty for one-way devices."""
    reply: Outgoing | None = None
    """For a peer protocol (MEDIBUS): the reply a corrupt request of the device demands."""


Decoded = Accepted | Rejected


@runtime_checkable
class SerialConversation(Protocol):
    """A decoder whose device must be spoken to. Times are monotonic nanoseconds (the
    reader's loop time); the conversation learns that the device spoke from what it is fed.
    It never raises, and only ever sends commands of its protocol's ``sends``."""

    def opening(self, monotonic_ns: int) -> Turn:
        """The port is open (again): what to send first (requests, an initialisation)."""
        ...

    def due(self, monotonic_ns: int) -> Turn:
        """What to send now: a keep-alive, the next request, a request again after a
        silence. The reader asks after every read and at :meth:`next_due_ns`."""
        ...

    def next_due_ns(self) -> int | None:
        """When :meth:`due` may next have something to say (None: only when fed)."""
        ...

    def closing(self) -> Turn:
        """The gateway lets go of the port: what tells the device to stop sending."""
        ...


class SerialDecoder(Protocol):
    """Bytes of one port in, complete records out. Never raises for bad input."""

    @property
    def discarded(self) -> int:
        """Bytes dropped while (re)synchronising after the port opened."""
        ...

    @property
    def pending(self) -> int:
        """Bytes held for a record not yet complete (bounded, whatever the input)."""
        ...

    def feed(self, data: bytes, receive_time_ns: int) -> list[Decoded]:
        """Take what the port delivered; return every record it completed."""
        ...

    def restart(self) -> None:
        """The port was (re)opened: forget partial input, expect to join mid-record."""
        ...


@dataclass(frozen=True, slots=True)
class DeviceProtocol:
    """A device protocol as the registry lists it."""

    kind: str
    """The name ``[[serial]] kind`` uses."""
    label: str
    """The device family in a few words, for people: ``Masimo``."""
    title: str
    """The device and its output format, for logs: ``Masimo ASCII 1 (Radical-7 …)``."""
    decoder: Callable[[SerialSource], SerialDecoder]
    answers: bool = False
    """Whether the protocol acknowledges records (HL7 ACKs, :attr:`Accepted.answer`)."""
    sends: frozenset[str] = frozenset()
    """Every command a :class:`SerialConversation` of this protocol may send: requests for
    data, keep-alives, protocol replies. The reader refuses anything else (a fault). Empty,
    and no ``answers``, for a one-way device: the reader never writes to its port."""

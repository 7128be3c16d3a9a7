"""The contract every serial device protocol keeps, and what its decoder hands the reader.

A protocol module (``masimo``, ``nonin``, ``ivy``, ``hl7``) has the same shape each time: a
``Decoder`` class that is fed the bytes as the port delivers them and returns each complete
line or frame group as :class:`Accepted` (the domain records it says) or :class:`Rejected`
(why not), and a ``PROTOCOL`` entry that names it for :mod:`adapters.serial.registry`.

A decoder keeps what a byte stream needs between reads — a partial line, half a packet,
which status flags are up — and nothing of the port, the hub or the clock: the reader
gives it the receive time. It never raises for bad input, and what it buffers is bounded.
Bytes it drops while finding the stream's rhythm (the reader joined mid-line after the
port opened) are counted in ``discarded``, not reported: every (re)open starts that way.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

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


@dataclass(frozen=True, slots=True)
class Rejected:
    """Bytes that are not a usable record: journaled for inspection and a fault."""

    raw: bytes
    reason: str
    control_id: str = ""
    answer: bytes = b""
    """A negative acknowledgement to send back (HL7 only); empty for one-way devices."""


Decoded = Accepted | Rejected


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
    """Whether the protocol needs the gateway to write to the port (HL7 ACKs). Every other
    protocol is read-only: the reader never writes to its port."""

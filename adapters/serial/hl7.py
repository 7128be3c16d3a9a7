"""HL7 v2 over RS-232: the same MLLP-framed PCD-01/PCD-04 messages a monitor sends over TCP.

Same framing (``adapters.hl7.mllp``), parser (``er7``) and decoder (``pcd``) as the TCP
listener, a different transport. Two things differ:

* **Who the device is.** A serial port has one device on it, and ``[[serial]] bed`` binds
  the key ``serial:<port>``: every report read here is attributed to that key (the label
  keeps what the message named — its MSH-3 application or EUI-64 — for people), so the
  binding applies whatever the monitor puts in MSH-3. Without a ``bed`` the usual routing
  (PV1-3 location, ``auto_beds``) decides.
* **Nothing else shares the line**, so the acknowledgement goes back on it.

Acknowledgements: MLLP is a request/acknowledge protocol — a sender in original mode waits
for each ACK and resends (or stops) without it — so the gateway answers exactly as over
TCP, and only as the sender asks (MSH-15/16; ``NE`` gets nothing): ``AA``/``CA`` once the
hub has stored the message, ``AE``/``CE`` when the journal could not (the device keeps
it and resends), ``AR``/``CR`` for a frame that is not a usable message. Those ACKs are the
only bytes the gateway ever writes to a serial port.
"""

from __future__ import annotations

import dataclasses

from adapters.hl7 import er7, pcd
from adapters.hl7.ack import AckError, Outcome, acknowledgements
from adapters.hl7.mllp import DEFAULT_MAX_FRAME_BYTES, MllpFramer, OversizeFrame, frame
from adapters.serial.device import TRANSPORT, Accepted, Decoded, DeviceProtocol, Rejected
from adapters.serial.device import SerialSource as Source
from gateway.domain import DeviceId, DeviceReport
from gateway.errors import ParseError

KIND = "hl7"
SENDER = "ICU-GATEWAY"
"""MSH-3 of the gateway's ACKs (as the TCP listener sends)."""


class Decoder:
    """An HL7-over-serial stream: MLLP frames in, each message's reports out."""

    def __init__(self, source: Source, *, max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES) -> None:
        self.source = source
        self.facility = source.facility
        self.max_frame_bytes = max_frame_bytes
        self._framer = MllpFramer(max_frame_bytes)
        self._discarded_before = 0

    @property
    def discarded(self) -> int:
        """Bytes outside any frame (the tail of a message the reader joined mid-way)."""
        return self._discarded_before + self._framer.discarded

    @property
    def pending(self) -> int:
        return self._framer.pending

    def restart(self) -> None:
        self._discarded_before += self._framer.discarded
        self._framer = MllpFramer(self.max_frame_bytes)

    def feed(self, data: bytes, receive_time_ns: int) -> list[Decoded]:
        return [self.decode(item, receive_time_ns) for item in self._framer.feed(data)]

    def decode(self, item: bytes | OversizeFrame, receive_time_ns: int) -> Decoded:
        """One frame's reports and answer, or why it is rejected (never raises)."""
        if isinstance(item, OversizeFrame):
            text = f"frame of {item.size} bytes exceeds the {self.max_frame_bytes}-byte limit"
            return Rejected(
                b"", text, answer=self._acks(None, Outcome.REJECTED, AckError(100, text))
            )
        message: er7.Message | None = None
        try:
            message = er7.parse(item)
            pcd.require_observation_report(message)
            decoded = pcd.decode_message(
                message, transport=TRANSPORT, peer=self.source.port, receive_time_ns=receive_time_ns
            )
        except ParseError as exc:
            control_id = message.control_id if message is not None else er7.salvage_control_id(item)
            error = AckError.unreadable(exc)
            nak = self._acks(message, Outcome.REJECTED, error, control_id=control_id)
            return Rejected(item, str(exc), control_id, nak)
        problems = [*message.quirks, *decoded.problems]
        if message.decode_errors:
            problems.append(f"bytes not valid {message.charset or 'UTF-8'} replaced")
        parsed, keep_alive = message, decoded.keep_alive

        def answer(not_stored: str | None) -> bytes:
            if not_stored is None:
                return self._acks(parsed, Outcome.ACCEPTED, None, commit_only=keep_alive)
            error = AckError(207, f"not stored: {not_stored}")
            return self._acks(parsed, Outcome.ERROR, error, commit_only=keep_alive)

        reports = tuple(self._attributed(report) for report in decoded.reports)
        return Accepted(
            item,
            reports,
            message.control_id,
            tuple(f"message {message.control_id}: {problem}" for problem in problems),
            answer,
        )

    def _attributed(self, report: DeviceReport) -> DeviceReport:
        """The report as the port's device said it (see the module docstring)."""
        sender = report.device
        device = DeviceId(self.source.device.key, str(sender))
        replace = dataclasses.replace
        return replace(
            report,
            device=device,
            observations=tuple(replace(o, device=device) for o in report.observations),
            waveforms=tuple(replace(w, device=device) for w in report.waveforms),
            alarms=tuple(replace(a, device=device) for a in report.alarms),
        )

    def _acks(
        self,
        message: er7.Message | None,
        outcome: Outcome,
        error: AckError | None,
        *,
        control_id: str = "",
        commit_only: bool = False,
    ) -> bytes:
        acks = acknowledgements(
            message,
            outcome,
            sender=SENDER,
            facility=self.facility,
            error=error,
            control_id=control_id,
            commit_only=commit_only,
        )
        return b"".join(frame(ack) for ack in acks)


PROTOCOL = DeviceProtocol(KIND, "HL7", "HL7 v2 over RS-232 (MLLP-framed)", Decoder, answers=True)

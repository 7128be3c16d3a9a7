"""One configured serial port, kept open for as long as the gateway runs.

:class:`SerialReader` opens its port, feeds what it reads to the device protocol's decoder,
and hands each complete record to the hub exactly as the MLLP listener does —
``hub.submit(ReceivedMessage(...), reports)``, transport ``serial``, peer the port path,
device ``serial:<port>`` (what ``[[serial]] bed`` binds) — or ``hub.reject`` for a bad one.
Bad input never stops it: a damaged line or frame is a counted fault, journaled as
rejected, and the next one is read.

A port that cannot be opened, or is lost (a USB adapter unplugged), is a fault, and the
reader tries again after a backoff (doubling up to ``backoff_max_s``) until it is back — a
replugged adapter comes back by itself. Meanwhile nothing is faked: the device's values go
stale and then DEVICE LOST through the ward and the alarm engine, like any silent device;
its status-flag alarms expire with it. A port that stays open but silent for
``silent_after_s`` is a fault too (device off, output disabled, wrong baud rate).

A protocol that must be spoken to (GE S/5, MEDIBUS: its decoder is a
:class:`~adapters.serial.device.SerialConversation`) is given its turn when the port opens
(the requests; again after every reopen), after every read and whenever it said it would
have something due (keep-alives, requests again after a silence), and once more when the
gateway stops (the stop requests, sent and drained before the port is let go).

Read-only towards devices: the reader is the only part that writes to a port, and it
writes only what the protocol gives it — HL7's ACKs once the hub has returned (ACK after
storage), a conversation's requests and protocol replies — and of those only commands the
protocol lists in ``sends``; anything else is refused and is a fault. A one-way device
never hears a byte. It must not know beds or the ward.
"""

from __future__ import annotations

import asyncio
import logging

from adapters.hl7.listener import ReportSink
from adapters.serial import registry
from adapters.serial.device import (
    TRANSPORT,
    Decoded,
    Outgoing,
    Rejected,
    SerialConversation,
    SerialDecoder,
    SerialSource,
    Turn,
    device_key,
)
from adapters.serial.keeper import BACKOFF_INITIAL_S, BACKOFF_MAX_S, PortKeeper
from adapters.serial.port import SerialLink, SerialPort
from gateway.clock import NS_PER_S, Clock, SystemClock
from gateway.domain import DeviceId, ReceivedMessage
from gateway.errors import AdapterError, JournalError

log = logging.getLogger(__name__)

SILENT_AFTER_S = 60.0
GOODBYE_DRAIN_S = 0.5
"""How long the stop requests may take to leave when the gateway stops."""


class SerialReader:
    """``await reader.run()`` reads ``port`` until cancelled (see the module docstring)."""

    def __init__(
        self,
        sink: ReportSink,
        *,
        port: str,
        kind: str,
        baud: int = 9600,
        parity: str = "none",
        flow_control: str = "none",
        clock: Clock | None = None,
        link: SerialLink | None = None,
        facility: str = "",
        backoff_initial_s: float = BACKOFF_INITIAL_S,
        backoff_max_s: float = BACKOFF_MAX_S,
        silent_after_s: float = SILENT_AFTER_S,
    ) -> None:
        self.sink = sink
        self.port = port
        self.protocol = registry.protocol(kind)
        self.clock = clock or SystemClock()
        self.link: SerialLink = link or SerialPort(
            port, baud=baud, parity=parity, flow_control=flow_control
        )
        self.device = DeviceId(device_key(port), f"{self.protocol.label} {port}")
        self.decoder: SerialDecoder = self.protocol.decoder(
            SerialSource(port, self.device, facility)
        )
        self.backoff_initial_s = backoff_initial_s
        self.backoff_max_s = backoff_max_s
        self.silent_after_s = silent_after_s
        self.source = f"serial {port}"
        self.line = f"{baud} 8{parity[:1].upper()}1" + (
            " RTS/CTS" if flow_control == "rtscts" else ""
        )
        self.keeper = PortKeeper(
            self.link,
            sink,
            port=port,
            transport=TRANSPORT,
            source=self.source,
            clock=self.clock,
            backoff_initial_s=backoff_initial_s,
            backoff_max_s=backoff_max_s,
        )
        self.records = 0
        self.rejected = 0
        self.not_stored = 0
        """Records shown but not journaled (the journal failed)."""
        self.sent: dict[str, int] = {}
        """Commands written to the port, by name (a conversation's, HL7 ACKs as ``ACK``)."""
        self.refused = 0
        """Commands a protocol gave that it does not list in ``sends``: never written."""
        self._told_unstored = False

    @property
    def connected(self) -> bool:
        return self.keeper.connected

    @property
    def opened(self) -> int:
        """Times the port was opened (1 + reconnections)."""
        return self.keeper.opened

    async def run(self) -> None:
        """Read until cancelled; never returns otherwise, never raises (but CancelledError)."""
        await self.keeper.run(self._session)

    async def _session(self) -> None:
        """One opening of the port: read until it is lost; the goodbye when cancelled."""
        log.info("reading %s on %s at %s", self.protocol.title, self.port, self.line)
        self.decoder.restart()
        try:
            conversation = self.conversation
            if conversation is not None:
                self._say(conversation.opening(_loop_ns()))
            await self._read_until_lost()
        except asyncio.CancelledError:
            await self._goodbye()
            raise

    @property
    def conversation(self) -> SerialConversation | None:
        """The decoder as a conversation, when its device must be spoken to."""
        decoder = self.decoder
        return decoder if isinstance(decoder, SerialConversation) else None

    async def _read_until_lost(self) -> None:
        silent = False
        loop = asyncio.get_running_loop()
        silent_at = loop.time() + self.silent_after_s
        conversation = self.conversation
        while True:
            wake_at = silent_at
            due_ns = conversation.next_due_ns() if conversation is not None else None
            if due_ns is not None:
                wake_at = min(wake_at, due_ns / NS_PER_S)
            try:
                async with asyncio.timeout_at(wake_at):
                    data = await self.link.read()
            except TimeoutError:
                if conversation is not None:
                    self._say(conversation.due(_loop_ns()))
                if loop.time() < silent_at:
                    continue
                silent_at = loop.time() + self.silent_after_s
                if not silent:
                    silent = True
                    self.sink.fault(
                        self.source,
                        f"open, but nothing received for {self.silent_after_s:g} s: is the"
                        f" device on, its serial output enabled, and set to {self.line}?",
                    )
                continue
            silent = False
            silent_at = loop.time() + self.silent_after_s
            receive_time = self.clock.now_ns()
            try:
                items = self.decoder.feed(data, receive_time)
            except Exception as exc:  # a decoder bug costs the bytes it held, nothing more
                log.exception("%s decoder failed", self.protocol.kind)
                self.sink.fault(self.source, f"decoder failed: {exc!r}; its partial input dropped")
                self.decoder.restart()
                continue
            for item in items:
                await self.take(item, receive_time)
            if conversation is not None:
                self._say(conversation.due(_loop_ns()))

    async def take(self, item: Decoded, receive_time_ns: int) -> None:
        """One decoded record to the hub, then its answer (HL7 only) to the device."""
        if isinstance(item, Rejected):
            self.rejected += 1
            message = ReceivedMessage(
                item.raw, TRANSPORT, self.port, receive_time_ns, item.control_id, self.device
            )
            await self.sink.reject(message, item.reason)
            self._answer(item.answer)
            if item.reply is not None:
                self._send(item.reply)
            return
        for problem in item.problems:
            self.sink.fault(self.source, problem)
        reports = item.reports
        device = reports[0].device if reports else self.device
        message = ReceivedMessage(
            item.raw, TRANSPORT, self.port, receive_time_ns, item.control_id, device
        )
        try:
            await self.sink.submit(message, reports)
        except JournalError as exc:
            self.not_stored += 1
            if not self._told_unstored:
                self._told_unstored = True
                resend = (
                    "the device was told to send it again"
                    if item.answer is not None
                    else "a one-way serial device cannot send it again"
                )
                self.sink.fault(self.source, f"not recorded: {exc} (shown live; {resend})")
            if item.answer is not None:
                self._answer(item.answer(str(exc)))
            if item.reply is not None:
                self._send(item.reply)
            return
        self._told_unstored = False
        self.records += 1
        self.keeper.heard()  # the device talks: a next loss retries fast
        if item.answer is not None:
            self._answer(item.answer(None))
        if item.reply is not None:
            self._send(item.reply)

    def _answer(self, data: bytes) -> None:
        if data and self.protocol.answers:  # only a protocol that acknowledges
            self.link.write(data)
            self.sent["ACK"] = self.sent.get("ACK", 0) + 1

    def _say(self, turn: Turn) -> None:
        for problem in turn.problems:
            self.sink.fault(self.source, problem)
        for outgoing in turn.sends:
            self._send(outgoing)

    def _send(self, outgoing: Outgoing) -> None:
        """One command to the device — only one the protocol lists as its own."""
        if outgoing.command not in self.protocol.sends:
            self.refused += 1
            self.sink.fault(
                self.source,
                f"refused to send {outgoing.command!r} ({len(outgoing.data)} bytes): not a"
                f" request or reply the {self.protocol.label} protocol sends",
            )
            return
        if outgoing.data:
            self.link.write(outgoing.data)
            self.sent[outgoing.command] = self.sent.get(outgoing.command, 0) + 1

    async def _goodbye(self) -> None:
        """The gateway stops: the conversation's stop requests, given time to leave."""
        conversation = self.conversation
        if conversation is None or not self.connected:
            return
        try:
            self._say(conversation.closing())
        except AdapterError:
            return  # the port went as we stopped: nothing to tell it
        await self.link.drain(GOODBYE_DRAIN_S)


def _loop_ns() -> int:
    """The loop's monotonic time in nanoseconds: what conversations keep time on."""
    return round(asyncio.get_running_loop().time() * NS_PER_S)

"""A serial port as the reader sees it: open, read, write (what a protocol must send), close.

:class:`SerialLink` is the whole transport contract — five methods, so a reader can be
given another link (a terminal server, a test's). :class:`SerialPort` is the real one,
through pyserial-asyncio-fast: 8 data bits, 1 stop bit, the configured baud rate, parity
and flow control (none, or RTS/CTS hardware handshake, which a GE S/5 Computer Interface
requires), and an exclusive lock so two gateways never share a device. pyserial's errors
are mapped here, once, to :class:`~gateway.errors.AdapterError`.

A port that disappears (a USB adapter unplugged: the read fails; a pseudo-terminal whose
device side closed: EIO) makes :meth:`SerialPort.read` raise — it never just returns
nothing — so the reader can report the loss and reopen. Closing always releases the file
descriptor promptly: a USB adapter plugged back in gets its old name only once nobody holds
the old one. Like any terminal program, opening asserts DTR and RTS; no byte is sent unless
the caller writes one.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol

import serial
import serial_asyncio_fast

try:
    import termios

    _LINE_ERRORS: tuple[type[Exception], ...] = (termios.error,)
    """A line setting the driver refuses (Linux pseudo-terminals: even parity, after once)."""
except ImportError:  # not a POSIX system
    _LINE_ERRORS = ()

from gateway.errors import AdapterError

log = logging.getLogger(__name__)

READ_SIZE = 4096
CLOSE_TIMEOUT_S = 2.0
PARITIES = {"none": serial.PARITY_NONE, "even": serial.PARITY_EVEN, "odd": serial.PARITY_ODD}
FLOW_CONTROLS = ("none", "rtscts")


class SerialLink(Protocol):
    """The byte pipe to one device."""

    async def open(self) -> None:
        """Open it; AdapterError when it cannot be (absent, in use, not a serial port)."""
        ...

    async def read(self) -> bytes:
        """The next bytes (never empty); AdapterError when the port is lost."""
        ...

    def write(self, data: bytes) -> None:
        """Queue bytes for the device; AdapterError when the port is not open."""
        ...

    async def drain(self, timeout_s: float) -> None:
        """Wait, at most ``timeout_s``, for what was queued to leave. Never raises."""
        ...

    async def close(self) -> None:
        """Release the port (a no-op when it is not open). Never raises."""
        ...


class SerialPort:
    """A real serial port (or pseudo-terminal) at ``path``."""

    def __init__(
        self, path: str, *, baud: int = 9600, parity: str = "none", flow_control: str = "none"
    ) -> None:
        if parity not in PARITIES:
            raise AdapterError(f"parity {parity!r}: expected one of {', '.join(PARITIES)}")
        if flow_control not in FLOW_CONTROLS:
            choices = ", ".join(FLOW_CONTROLS)
            raise AdapterError(f"flow control {flow_control!r}: expected one of {choices}")
        self.path = path
        self.baud = baud
        self.parity = parity
        self.flow_control = flow_control
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    @property
    def is_open(self) -> bool:
        return self._writer is not None

    async def open(self) -> None:
        if self._writer is not None:
            raise AdapterError(f"{self.path} is already open")
        try:
            reader, writer = await serial_asyncio_fast.open_serial_connection(
                url=self.path,
                baudrate=self.baud,
                bytesize=serial.EIGHTBITS,
                parity=PARITIES[self.parity],
                stopbits=serial.STOPBITS_ONE,
                xonxoff=False,
                rtscts=self.flow_control == "rtscts",
                dsrdtr=False,
                exclusive=True,
            )
        except (serial.SerialException, OSError, ValueError, *_LINE_ERRORS) as exc:
            raise AdapterError(f"cannot open {self.path}: {exc}") from exc
        self._reader, self._writer = reader, writer

    async def read(self) -> bytes:
        reader = self._reader
        if reader is None:
            raise AdapterError(f"{self.path} is not open")
        try:
            data = await reader.read(READ_SIZE)
        except (serial.SerialException, OSError) as exc:
            raise AdapterError(f"{self.path} lost: {exc}") from exc
        if not data:
            raise AdapterError(f"{self.path} closed")
        return data

    def write(self, data: bytes) -> None:
        writer = self._writer
        if writer is None or writer.is_closing():
            raise AdapterError(f"{self.path} is not open: {len(data)} bytes not sent")
        writer.write(data)

    async def drain(self, timeout_s: float) -> None:
        writer = self._writer
        if writer is None or writer.is_closing():
            return
        try:
            async with asyncio.timeout(timeout_s):
                await writer.drain()
        except (TimeoutError, serial.SerialException, OSError, ConnectionError) as exc:
            log.debug("%s: output not drained: %r", self.path, exc)

    async def close(self) -> None:
        writer = self._writer
        self._reader = self._writer = None
        if writer is None:
            return
        transport = writer.transport
        if not transport.is_closing():
            transport.abort()  # not close(): that first drains output a dead port never takes
        try:
            async with asyncio.timeout(CLOSE_TIMEOUT_S):
                await writer.wait_closed()
        except TimeoutError:
            log.warning("%s: not released within %g s", self.path, CLOSE_TIMEOUT_S)
        except (serial.SerialException, OSError) as exc:
            # The error that ended the port: read() raised it already, as the loss.
            log.debug("%s closed after: %s", self.path, exc)

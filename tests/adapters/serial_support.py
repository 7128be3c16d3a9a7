"""What the serial tests share: the reference samples (bytes on disk), a decoder's source,
and real pseudo-terminals — including one behind a stable path that can be unplugged and
plugged back in, like a USB adapter behind ``/dev/serial/by-id/…``."""

from __future__ import annotations

import contextlib
import os
import tty
from collections.abc import Iterable
from pathlib import Path

from adapters.serial.device import Accepted, Decoded, Rejected, SerialDecoder, SerialSource
from gateway.domain import DeviceId, DeviceReport

FIXTURES = Path(__file__).parent.parent / "fixtures" / "serial"
PORT = "/dev/ttyUSB0"


def sample_text(prefix: str) -> bytes:
    """A text sample without its ``#`` lines."""
    data = next(FIXTURES.glob(f"{prefix}*.txt")).read_bytes()
    return b"".join(line for line in data.splitlines(True) if not line.startswith(b"#"))


def sample_comments(prefix: str) -> list[str]:
    data = next(FIXTURES.glob(f"{prefix}*.txt")).read_text()
    return [line for line in data.splitlines() if line.startswith("#")]


def ivy_capture() -> bytes:
    return (FIXTURES / "S05_ivy450c_ansarB_raw_capture.bin").read_bytes()


def source(port: str = PORT) -> SerialSource:
    return SerialSource(port, DeviceId(f"serial:{port}", f"test {port}"))


def feed(
    decoder: SerialDecoder, data: bytes, *, chunk: int | None = None, time_ns: int = 0
) -> list[Decoded]:
    """Everything ``decoder`` makes of ``data``, fed in pieces of ``chunk`` bytes."""
    step = chunk or max(1, len(data))
    out: list[Decoded] = []
    for at in range(0, len(data), step):
        out += decoder.feed(data[at : at + step], time_ns)
    return out


def accepted(items: Iterable[Decoded]) -> list[Accepted]:
    return [item for item in items if isinstance(item, Accepted)]


def rejected(items: Iterable[Decoded]) -> list[Rejected]:
    return [item for item in items if isinstance(item, Rejected)]


def reports(items: Iterable[Decoded]) -> list[DeviceReport]:
    return [report for item in accepted(items) for report in item.reports]


def values(report: DeviceReport) -> dict[str, float | str]:
    return {o.label: o.value for o in report.observations}


class Pty:
    """A pseudo-terminal in raw mode: the test writes the device's bytes on ``master``."""

    def __init__(self) -> None:
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)
        os.set_blocking(self.master, False)
        self.path = os.ttyname(self.slave)
        self.closed = False

    def write(self, data: bytes) -> None:
        os.write(self.master, data)

    def read(self) -> bytes:
        """What the gateway wrote to the device (nothing: b"")."""
        chunks = []
        with contextlib.suppress(BlockingIOError):
            while chunk := os.read(self.master, 65536):
                chunks.append(chunk)
        return b"".join(chunks)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            os.close(self.master)
            os.close(self.slave)


class PluggedPort:
    """A stable path to a pty that can be unplugged (the pty closes, the path goes away) and
    plugged back in (a new pty behind the same path)."""

    def __init__(self, folder: Path, name: str = "usb-serial") -> None:
        self.path = str(folder / name)
        self.pty: Pty | None = None

    def plug(self) -> Pty:
        assert self.pty is None
        self.pty = Pty()
        os.symlink(self.pty.path, self.path)
        return self.pty

    def unplug(self) -> None:
        assert self.pty is not None
        os.unlink(self.path)
        self.pty.close()
        self.pty = None

    def write(self, data: bytes) -> None:
        assert self.pty is not None
        self.pty.write(data)

    def close(self) -> None:
        if self.pty is not None:
            self.unplug()

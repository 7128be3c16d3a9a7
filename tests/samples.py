"""Reference samples from tests/fixtures/hl7 (bytes on disk, copied from the IHE PCD TF
and Dräger's ACM reference messages; each file keeps its ``# source:`` line)."""

from __future__ import annotations

from pathlib import Path

FIXTURES = Path(__file__).parent / "fixtures"


def sample_path(prefix: str) -> Path:
    return next((FIXTURES / "hl7").glob(f"{prefix}*.hl7"))


def load_sample(prefix: str) -> bytes:
    """A sample message without its ``# source:``/``# note:`` lines, separators as stored."""
    data = sample_path(prefix).read_bytes()
    while data.startswith(b"#"):
        data = data.split(b"\n", 1)[1]
    return data


def all_samples() -> list[str]:
    return sorted(p.name.split("_", 1)[0] for p in (FIXTURES / "hl7").glob("*.hl7"))


def bad_input(path: Path) -> tuple[str, bytes]:
    """A bad-input file (tests/fixtures/bad/): its ``# expect:`` line and the bytes after
    the ``#`` lines."""
    data = path.read_bytes()
    expect = ""
    while data.startswith(b"#"):
        line, _, data = data.partition(b"\n")
        if line.startswith(b"# expect:"):
            expect = line.split(b":", 1)[1].decode().strip()
    return expect, data

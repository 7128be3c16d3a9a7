"""The project's exception tree: one root, one class per layer that can fail.

Lower-layer errors (``OSError``, ``UnicodeError``, ``tomllib.TOMLDecodeError`` …) are mapped
once, at the boundary where they happen, to the most specific class here, so callers catch
``GatewayError`` and never a vendor or stdlib exception.
"""

from __future__ import annotations


class GatewayError(Exception):
    """Root of every error the gateway raises on purpose."""


class ConfigError(GatewayError):
    """A configuration file is unreadable or invalid; ``problems`` lists every finding."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


class BindingRefused(GatewayError):
    """A change of the running gateway's beds that cannot be made as asked (a bed id not
    allowed, an automatic bed renamed); the message says why, for the operator."""


class ParseError(GatewayError):
    """Bytes that are not a usable HL7 (or device) message.

    ``segment``/``field`` locate the fault when it is known (1-based, HL7 ERR-2 style),
    so a negative ACK can say where the message went wrong.
    """

    def __init__(self, message: str, *, segment: str | None = None, field: int | None = None):
        self.segment = segment
        self.field = field
        super().__init__(message)


class FramingError(GatewayError):
    """The byte stream breaks the transport framing (MLLP, serial frames)."""


class AdapterError(GatewayError):
    """An adapter cannot do its job: a port in use, a device unreachable, a lost link."""


class JournalError(GatewayError):
    """Durable storage failed: nothing may be acknowledged until it recovers."""


class MessageRefused(JournalError):
    """One message the journal cannot store as decoded (a value no column can hold): it is
    kept raw as rejected instead, and its device gets a definitive reject (``AR``/``CR``),
    never a negative ACK it would resend for ever. Recording itself works."""

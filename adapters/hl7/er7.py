"""ER7 (pipe-and-hat) parsing and encoding of HL7 v2 messages.

This is the ingest path's parser: it must keep up with tens of thousands of messages a
second, so it splits a message into segments and fields once, and leaves components,
repetitions and escape sequences to be resolved only for the fields a decoder reads.
It is tolerant of what devices send (CR, LF or CRLF separators, the 5-character
``^~\\&#`` encoding field, undecodable bytes) and raises :class:`ParseError` — never another
exception — for what cannot be read as HL7 at all. It knows nothing of IHE PCD.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from gateway.errors import ParseError

# MSH-18 values → Python codecs. Unknown or empty → UTF-8, which ASCII senders satisfy.
CHARSETS: dict[str, str] = {
    "": "utf-8",
    "ASCII": "ascii",
    "UNICODE UTF-8": "utf-8",
    "UNICODE": "utf-8",
    "UTF-8": "utf-8",
    "8859/1": "latin-1",
    "8859/2": "iso8859-2",
    "8859/5": "iso8859-5",
    "8859/7": "iso8859-7",
    "8859/9": "iso8859-9",
    "8859/15": "iso8859-15",
    "GB 18030-2000": "gb18030",
    "GB2312": "gb2312",
    "KS X 1001": "euc-kr",
    "ISO IR87": "iso2022_jp",
}


@dataclass(frozen=True, slots=True)
class Delimiters:
    field: str = "|"
    component: str = "^"
    repetition: str = "~"
    escape: str = "\\"
    subcomponent: str = "&"
    truncation: str = ""

    @property
    def encoding_characters(self) -> str:
        return self.component + self.repetition + self.escape + self.subcomponent + self.truncation


STANDARD = Delimiters()


class Segment:
    """One segment: ``fields[n]`` is field n as HL7 numbers it (``fields[0]`` is the name).

    For MSH, ``fields[1]`` is the field separator and ``fields[2]`` the encoding
    characters, so MSH-9 is ``fields[9]`` as in the standard.
    """

    __slots__ = ("delimiters", "fields", "name")

    def __init__(self, fields: list[str], delimiters: Delimiters) -> None:
        self.fields = fields
        self.name = fields[0]
        self.delimiters = delimiters

    def __repr__(self) -> str:
        return f"Segment({self.delimiters.field.join(self.fields[:1] + self.fields[2:])!r})"

    def raw(self, field: int) -> str:
        """Field ``field`` exactly as sent (escapes and separators intact); '' if absent."""
        fields = self.fields
        return fields[field] if field < len(fields) else ""

    def get(
        self, field: int, component: int = 1, subcomponent: int = 1, repetition: int = 0
    ) -> str:
        """One value, unescaped: field, component and subcomponent are 1-based as in HL7."""
        fields = self.fields
        if field >= len(fields):
            return ""
        value = fields[field]
        d = self.delimiters
        if self.name == "MSH" and field <= 2:
            return value
        if d.repetition in value:
            reps = value.split(d.repetition)
            value = reps[repetition] if repetition < len(reps) else ""
        elif repetition:
            return ""
        if d.component in value:
            parts = value.split(d.component)
            value = parts[component - 1] if component <= len(parts) else ""
        elif component != 1:
            return ""
        if d.subcomponent in value:
            subs = value.split(d.subcomponent)
            value = subs[subcomponent - 1] if subcomponent <= len(subs) else ""
        elif subcomponent != 1:
            return ""
        if d.escape and d.escape in value:
            return unescape(value, d)
        return value

    def components(self, field: int, repetition: int = 0) -> list[str]:
        """All components of a field (one repetition), unescaped; sub-components kept raw."""
        value = self.raw(field)
        d = self.delimiters
        if d.repetition in value:
            reps = value.split(d.repetition)
            value = reps[repetition] if repetition < len(reps) else ""
        elif repetition:
            return []
        parts = value.split(d.component)
        if d.escape and d.escape in value:
            return [unescape(p, d) if d.escape in p else p for p in parts]
        return parts

    def repetitions(self, field: int) -> list[str]:
        """The repetitions of a field, each raw (use ``split_value`` on them as needed)."""
        value = self.raw(field)
        return value.split(self.delimiters.repetition) if value else []


class Message:
    """A parsed message: its segments in order, its delimiters, how its text was decoded."""

    __slots__ = (
        "_control_id",
        "_type",
        "charset",
        "decode_errors",
        "delimiters",
        "quirks",
        "segments",
    )

    def __init__(
        self,
        segments: list[Segment],
        delimiters: Delimiters,
        charset: str,
        decode_errors: bool,
        quirks: tuple[str, ...] = (),
    ) -> None:
        self.segments = segments
        self.delimiters = delimiters
        self.charset = charset
        self.decode_errors = decode_errors
        """True when some bytes could not be decoded in the declared charset and were
        replaced by U+FFFD: the message is usable, and the fact is reported."""
        self.quirks = quirks
        """What the parser had to put right to read the message (a shifted MSH): the
        message is usable, and the fact is reported, as for ``decode_errors``."""
        self._control_id: str | None = None
        self._type: tuple[str, str, str] | None = None

    @property
    def msh(self) -> Segment:
        return self.segments[0]

    @property
    def control_id(self) -> str:
        """MSH-10, stripped: the id an ACK must echo (senders pad it with spaces)."""
        if self._control_id is None:
            self._control_id = self.msh.get(10).strip()
        return self._control_id

    @property
    def message_type(self) -> tuple[str, str, str]:
        """MSH-9 as (code, trigger, structure): ``('ORU', 'R01', 'ORU_R01')``."""
        found = self._type
        if found is None:
            msh = self.msh
            standard = self.delimiters is STANDARD
            found = _MESSAGE_TYPES.get(msh.raw(9)) if standard else None
            if found is None:
                parts = msh.components(9)
                parts += [""] * (3 - len(parts))
                found = (parts[0], parts[1], parts[2])
                if standard and len(_MESSAGE_TYPES) < 256:
                    _MESSAGE_TYPES[msh.raw(9)] = found
            self._type = found
        return found

    def first(self, name: str) -> Segment | None:
        for segment in self.segments:
            if segment.name == name:
                return segment
        return None

    def all(self, name: str) -> list[Segment]:
        return [s for s in self.segments if s.name == name]

    def to_er7(self, separator: str = "\r") -> str:
        """The message re-serialised (segments joined by ``separator``, no trailing one)."""
        fs = self.delimiters.field
        lines = []
        for seg in self.segments:
            if seg.name == "MSH":
                lines.append("MSH" + fs + fs.join(seg.fields[2:]))
            else:
                lines.append(fs.join(seg.fields))
        return separator.join(lines)


def parse(data: bytes) -> Message:
    """Parse one message (the payload of one frame). Raises ParseError, nothing else."""
    if not data.startswith(b"MSH"):
        start = data.find(b"MSH")
        if start < 0:
            raise ParseError("no MSH segment: not an HL7 v2 message", segment="MSH")
        # Tolerate leading whitespace only; anything else before MSH is not ours to guess.
        if data[:start].strip():
            raise ParseError("data before the MSH segment", segment="MSH")
        data = data[start:]
    if data.endswith(b"\x00"):
        data = data.rstrip(b"\x00")  # NUL padding: a fixed-size buffer sent whole
    if len(data) < 8:
        raise ParseError("MSH segment too short for its delimiters", segment="MSH", field=2)
    # The standard delimiters (nearly every sender) are recognised by one comparison.
    delimiters = STANDARD if data[3:9] == b"|^~\\&|" else _delimiters(data)
    fs = delimiters.field
    charset: str | None
    if data.isascii():
        # Every charset we read is ASCII-compatible: pure ASCII decodes the same in all of
        # them, so MSH-18 is read after the split instead of being sniffed from bytes.
        text = data.decode("ascii")
        decode_errors = False
        charset = None
    else:
        charset = _charset(data, fs)
        codec = CHARSETS.get(charset.upper(), "utf-8")
        try:
            text = data.decode(codec)
            decode_errors = False
        except UnicodeDecodeError:
            text = data.decode(codec, errors="replace")
            decode_errors = True
        except LookupError:  # a codec missing from this Python build
            text = data.decode("utf-8", errors="replace")
            decode_errors = True
    if "\n" in text:
        text = text.replace("\r\n", "\r").replace("\n", "\r")
    lines = text.split("\r")
    fields = lines[0].split(fs)
    # Renumber so fields[n] is MSH-n: MSH-1 is the separator itself.
    fields.insert(1, fs)
    quirks: tuple[str, ...] = ()
    if len(fields) < 10 or not fields[9]:
        if not unshift_msh(fields, delimiters.component):
            raise ParseError("MSH-9 (message type) is missing", segment="MSH", field=9)
        quirks = (SHIFTED_MSH,)
    msh = Segment(fields, delimiters)
    segments = [msh]
    append = segments.append
    known = _SEGMENT_NAMES
    new = object.__new__
    for line in lines[1:]:
        if not line:
            continue
        fields = line.split(fs)
        name = fields[0]
        if name not in known:
            if len(name) != 3 or not name.isalnum():
                if not line.strip():
                    continue
                raise ParseError(f"bad segment name {name[:8]!r}", segment=name[:3] or None)
            if name == "MSH":
                raise ParseError("a second MSH inside one message", segment="MSH")
            if len(known) < _MAX_SEGMENT_NAMES:
                known.add(name)
        # Segment(fields, delimiters), inlined: a fifth of the parse time is this loop.
        segment = new(Segment)
        segment.fields = fields
        segment.name = name
        segment.delimiters = delimiters
        append(segment)
    if charset is None:
        fields = msh.fields
        charset = fields[18] if len(fields) > 18 else ""
        if charset:
            charset = charset.split(delimiters.repetition)[0].strip()
    return Message(segments, delimiters, charset, decode_errors, quirks)


SHIFTED_MSH = (
    "shifted MSH: an empty field before MSH-9 pushed MSH-9/10 one place"
    " (a Mindray D-series header); read one place back"
)
"""The quirk note of a message whose MSH :func:`unshift_msh` put right."""
_MESSAGE_TYPE = re.compile(r"[A-Za-z]{3}$")


def unshift_msh(fields: list[str], component: str) -> bool:
    """Put right, in place, an MSH with one empty field too many before MSH-9.

    ``fields`` is numbered as HL7 numbers MSH (``fields[9]`` is MSH-9). Seen from a Mindray
    D-series monitor: ``MSH|^~\\&||MINDRAY_D-SERIES^…^EUI-64||||<time>||ORU^R01^ORU_R01|374|P|2.6``
    — MSH-9 empty and the message type in MSH-10, every later field one place on. It is
    put right only when that is what the header shows: MSH-9 empty, MSH-10 a message type
    (``ORU^R01``…) and an empty field among MSH-3…MSH-9 to take out (the first one: the
    header the device meant has its sending application in MSH-3). Returns whether it did.
    """
    if len(fields) < 11 or fields[9] or component not in fields[10]:
        return False
    code = fields[10].split(component, 1)[0]
    if not _MESSAGE_TYPE.match(code):
        return False
    for index in range(3, 9):
        if not fields[index]:
            del fields[index]
            return True
    return False


_MESSAGE_TYPES: dict[str, tuple[str, str, str]] = {}
"""MSH-9 text (standard delimiters) → (code, trigger, structure): senders repeat it."""

# Segment names already checked to be 3 letters or digits (MSH is never in it: a second MSH
# must be refused). Bounded, so a sender inventing names cannot grow it without end.
_SEGMENT_NAMES: set[str] = {"PID", "PV1", "OBR", "OBX", "MSA", "ERR", "NTE", "ORC", "EVN", "PD1"}
_MAX_SEGMENT_NAMES = 512
_DELIMITER_CACHE: dict[bytes, Delimiters] = {b"|^~\\&": STANDARD}
"""Delimiter sets seen; the standard one is :data:`STANDARD` itself, so decoders can cache
what they derive from field text per exact string when the delimiters are standard."""


def _delimiters(data: bytes) -> Delimiters:
    fs_byte = data[3:4]
    end = data.find(fs_byte, 4)
    encoding = data[4:end] if end >= 0 else b""
    key = fs_byte + encoding
    cached = _DELIMITER_CACHE.get(key)
    if cached is not None:
        return cached
    fs = fs_byte.decode("latin-1")
    if not 4 <= len(encoding) <= 5:
        raise ParseError("MSH-2 must hold 4 or 5 encoding characters", segment="MSH", field=2)
    chars = encoding.decode("latin-1")
    if (
        not key.isascii()
        or fs.isalnum()
        or fs in chars
        or any(not " " < c < "\x7f" for c in fs + chars)
        or len(set(chars)) != len(chars)
        or any(c.isalnum() or c in "\r\n" for c in chars)
    ):
        raise ParseError("MSH-1/MSH-2 delimiters are not distinct symbols", segment="MSH", field=2)
    delimiters = Delimiters(fs, chars[0], chars[1], chars[2], chars[3], chars[4:5])
    if len(_DELIMITER_CACHE) < 64:
        _DELIMITER_CACHE[key] = delimiters
    return delimiters


def _charset(data: bytes, fs: str) -> str:
    end = len(data)
    for sep in (b"\r", b"\n"):
        pos = data.find(sep)
        if 0 <= pos < end:
            end = pos
    fields = data[:end].split(fs.encode("latin-1"))
    # fields[0] is "MSH", fields[1] MSH-2 … so MSH-18 is fields[17].
    if len(fields) > 17:
        return fields[17].split(b"~")[0].decode("latin-1").strip()
    return ""


def unescape(value: str, d: Delimiters = STANDARD) -> str:
    """Resolve HL7 escape sequences (\\F\\ \\S\\ \\T\\ \\R\\ \\E\\ \\Xhh\\ \\.br\\ …).

    An unknown or unterminated sequence is kept as sent: losing a character of a device's
    text is worse than showing a backslash.
    """
    esc = d.escape
    out: list[str] = []
    pos = 0
    while True:
        start = value.find(esc, pos)
        if start < 0:
            out.append(value[pos:])
            return "".join(out)
        stop = value.find(esc, start + 1)
        if stop < 0:
            out.append(value[pos:])
            return "".join(out)
        out.append(value[pos:start])
        code = value[start + 1 : stop]
        replacement = _escape_meaning(code, d)
        if replacement is None:
            out.append(value[start : stop + 1])
        else:
            out.append(replacement)
        pos = stop + 1


def _escape_meaning(code: str, d: Delimiters) -> str | None:
    simple = {"F": d.field, "S": d.component, "T": d.subcomponent, "R": d.repetition}
    if code in simple:
        return simple[code]
    if code == "E":
        return d.escape
    if code == "P" and d.truncation:
        return d.truncation
    if code == ".br":
        return "\n"
    if code in ("H", "N") or code.startswith((".sp", ".in", ".ti", ".sk", ".ce", ".fi", ".nf")):
        return ""  # formatting hints: no meaning on a terminal
    if code[:1] == "X" and len(code) > 1 and len(code) % 2 == 1:
        try:
            return bytes.fromhex(code[1:]).decode("latin-1")
        except ValueError:
            return None
    return None


_STANDARD_SPECIALS = re.compile(r"[|^~\\&\r\n]")


def escape(value: str, d: Delimiters = STANDARD) -> str:
    """Escape text for an ER7 field (the inverse of :func:`unescape` for delimiters)."""
    if d is STANDARD:
        if _STANDARD_SPECIALS.search(value) is None:
            return value
    elif not any(c in d.field + d.encoding_characters + "\r\n" for c in value):
        return value
    e = d.escape
    out = value.replace(e, f"{e}E{e}")
    out = out.replace(d.field, f"{e}F{e}").replace(d.component, f"{e}S{e}")
    out = out.replace(d.subcomponent, f"{e}T{e}").replace(d.repetition, f"{e}R{e}")
    if d.truncation:
        out = out.replace(d.truncation, f"{e}P{e}")
    return out.replace("\r\n", f"{e}.br{e}").replace("\n", f"{e}.br{e}").replace("\r", f"{e}.br{e}")


def salvage_control_id(data: bytes) -> str:
    """MSH-10 of a message too broken to parse, if its MSH line can still be read.

    A shifted MSH (:func:`unshift_msh`) gives its real control id; a field that is a
    message type (``ORU^R01``) is never given as one: a sender could not match a NAK
    carrying it to its message, so nothing (``""``) is better.
    """
    line = data.lstrip(b" \t\r\n").split(b"\r", 1)[0].split(b"\n", 1)[0]
    if not line.startswith(b"MSH") or len(line) < 8:
        return ""
    text = line.decode("latin-1", "replace")
    fs = text[3]
    component = text[4]
    fields = text.split(fs)
    fields.insert(1, fs)  # numbered as HL7 numbers MSH: fields[10] is MSH-10
    if len(fields) > 9 and not fields[9]:
        unshift_msh(fields, component)
    control_id = fields[10].strip() if len(fields) > 10 else ""
    if component in control_id and _MESSAGE_TYPE.match(control_id.split(component, 1)[0]):
        return ""
    return control_id

"""The validation engine: converters for a TOML document that report every problem with its
file, line and key path, and the generic value kinds (numbers, flags, texts, choices,
patterns).

It knows nothing of the gateway's tables: those are :mod:`gateway.config.checks`.
"""

from __future__ import annotations

import difflib
import enum
import json
import math
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

# --------------------------------------------------------------------------- validation engine
#
# A schema is a tree of converters. Each takes the raw TOML value and a cursor (where in the
# file it is) and returns the checked value, or _BAD after reporting why. Tables return the
# keys that were good even when others were not, so that checks across the document (a
# duplicate bed id) still run and every problem surfaces in one pass.

KeyPath = tuple[str | int, ...]


class _Bad(enum.Enum):
    BAD = "bad"


_BAD = _Bad.BAD
_REQUIRED: Any = object()


class _Invalid(Exception):
    """Raised by a scalar parser: the message says what was wrong with the value."""


class _LineIndex:
    """Line numbers of tables and keys, found by scanning the text (tomllib gives none).

    Best effort: headers, ``key = value`` lines (dotted keys too) and ``[[array]]`` counts
    are recognised; a key inside an inline table is reported at the line of its table.
    """

    _KEY = r"""(?:[A-Za-z0-9_-]+|"(?:[^"\\]|\\.)*"|'[^']*')"""
    _DOTTED = rf"{_KEY}(?:\s*\.\s*{_KEY})*"
    _HEADER = re.compile(rf"\s*(\[\[?)\s*({_DOTTED})\s*\]\]?\s*(?:#.*)?$")
    _ASSIGN = re.compile(rf"\s*({_DOTTED})\s*=")

    def __init__(self, text: str) -> None:
        self._lines: dict[KeyPath, int] = {}
        arrays: dict[KeyPath, int] = {}
        table: KeyPath = ()
        open_string: str | None = None
        for number, line in enumerate(text.splitlines(), 1):
            if open_string is not None:  # inside a multi-line string: nothing here is a key
                if line.count(open_string) % 2:
                    open_string = None
                continue
            if header := self._HEADER.match(line):
                table = self._table_path(self._parts(header[2]), header[1] == "[[", arrays)
                for end in range(1, len(table) + 1):
                    self._lines.setdefault(table[:end], number)
            elif assign := self._ASSIGN.match(line):
                parts = self._parts(assign[1])
                for end in range(1, len(parts) + 1):
                    self._lines.setdefault(table + parts[:end], number)
            for quotes in ('"""', "'''"):
                if line.count(quotes) % 2:
                    open_string = quotes

    def line_of(self, path: KeyPath) -> int | None:
        """The line of ``path``, or of its nearest enclosing key or table that is known."""
        while path:
            if path in self._lines:
                return self._lines[path]
            path = path[:-1]
        return None

    def _parts(self, dotted: str) -> tuple[str, ...]:
        return tuple(part.strip("\"'") for part in re.findall(self._KEY, dotted))

    def _table_path(
        self, parts: tuple[str, ...], is_array: bool, arrays: dict[KeyPath, int]
    ) -> KeyPath:
        path: KeyPath = ()
        for position, part in enumerate(parts):
            path += (part,)
            if is_array and position == len(parts) - 1:
                arrays[path] = arrays.get(path, 0) + 1
            if path in arrays:
                path += (arrays[path] - 1,)
        return path


class _Reader:
    def __init__(self, source: str, lines: _LineIndex) -> None:
        self.source = source
        self.lines = lines
        self.problems: list[tuple[int | None, str]] = []

    def add(self, path: KeyPath, message: str) -> None:
        line = self.lines.line_of(path)
        where = self.source if not line else f"{self.source}:{line}"
        self.problems.append((line, f"{where}: {_show_path(path)}: {message}"))

    def sorted_problems(self) -> list[str]:
        return [text for _, text in sorted(self.problems, key=lambda p: p[0] or math.inf)]


@dataclass(frozen=True, slots=True)
class _Cursor:
    reader: _Reader
    path: KeyPath

    def at(self, key: str | int) -> _Cursor:
        return _Cursor(self.reader, (*self.path, key))

    def problem(self, message: str) -> None:
        self.reader.add(self.path, message)


class _Convert(Protocol):
    @property
    def allowed(self) -> str: ...

    def __call__(self, raw: object, cursor: _Cursor) -> Any: ...


@dataclass(frozen=True, slots=True)
class _Scalar:
    """A leaf value: ``parse`` returns it checked and converted, or raises _Invalid."""

    allowed: str
    parse: Callable[[object], Any]

    def __call__(self, raw: object, cursor: _Cursor) -> Any:
        try:
            return self.parse(raw)
        except _Invalid as wrong:
            cursor.problem(f"{wrong}; expected {self.allowed}")
            return _BAD


@dataclass(frozen=True, slots=True)
class _List:
    item: _Convert
    allowed: str

    def __call__(self, raw: object, cursor: _Cursor) -> Any:
        if not isinstance(raw, list):
            cursor.problem(f"got {_describe(raw)}; expected {self.allowed}")
            return _BAD
        return [self.item(value, cursor.at(index)) for index, value in enumerate(raw)]


@dataclass(frozen=True, slots=True)
class _Field:
    convert: _Convert
    default: Any = None
    """Used when the key is absent (and converted like a written value); None: left None."""


@dataclass(frozen=True, slots=True)
class _Table:
    """A table with a fixed set of keys; unknown keys are errors naming the allowed ones."""

    allowed: str
    fields: Mapping[str, _Field]
    check: Callable[[dict[str, Any], dict[str, Any], _Cursor], None] | None = None
    """Checks across keys, given the good (or defaulted) values and the table as written."""

    def __call__(self, raw: object, cursor: _Cursor) -> Any:
        if not isinstance(raw, dict):
            cursor.problem(f"got {_describe(raw)}; expected {self.allowed}")
            return _BAD
        for key in raw:
            if key not in self.fields:
                cursor.at(key).problem(_unknown_key(key, list(self.fields)))
        values: dict[str, Any] = {}
        for key, spec in self.fields.items():
            if key in raw:
                value = spec.convert(raw[key], cursor.at(key))
            elif spec.default is _REQUIRED:
                cursor.at(key).problem(f"missing; expected {spec.convert.allowed}")
                value = _BAD
            elif spec.default is None:
                value = None
            else:
                value = spec.convert(spec.default, cursor.at(key))
            if value is not _BAD:
                values[key] = value
        if self.check is not None:
            self.check(values, raw, cursor)
        return values


def _unknown_key(key: str, allowed: list[str]) -> str:
    close = difflib.get_close_matches(key, allowed, n=1)
    hint = f" (did you mean {close[0]}?)" if close else ""
    return f"unknown key{hint}; allowed keys: {', '.join(allowed)}"


def _show_path(path: KeyPath) -> str:
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            name = part if re.fullmatch(r"[A-Za-z0-9_-]+", part) else json.dumps(part)
            text += f".{name}" if text else name
    return text


def _describe(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f"the string {json.dumps(value, ensure_ascii=False)}"
    if isinstance(value, int | float):
        return f"the number {value}"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "a list"
    return f"a date/time ({value})"


def _show(value: object) -> str:
    """A value as it would be written in TOML."""
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _num(value: object) -> str:
    """A number without a needless ``.0``: bounds, and values already converted to float."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _syntax_problem(source: str, text: str, error: tomllib.TOMLDecodeError) -> str:
    message = str(error)
    if found := re.fullmatch(r"(.*) \(at line (\d+), column (\d+)\)", message, re.DOTALL):
        return f"{source}:{found[2]}:{found[3]}: TOML syntax error: {found[1]}"
    if found := re.fullmatch(r"(.*) \(at end of document\)", message, re.DOTALL):
        lines = max(len(text.splitlines()), 1)
        return f"{source}:{lines}: TOML syntax error at the end of the file: {found[1]}"
    return f"{source}: TOML syntax error: {message}"


# --------------------------------------------------------------------------- value kinds


def _number(
    *,
    above: float | None = None,
    least: float | None = None,
    most: float | None = None,
    whole: bool = False,
    unit: str = "",
) -> _Scalar:
    noun = "a whole number" if whole else "a number"
    if least is not None and most is not None:
        allowed = f"{noun} from {_num(least)} to {_num(most)}"
    elif above is not None:
        allowed = f"{noun} > {_num(above)}"
    elif least is not None:
        allowed = f"{noun} >= {_num(least)}"
    else:
        allowed = noun
    if unit:
        allowed += f" ({unit})"

    def parse(raw: object) -> float | int:
        if isinstance(raw, bool) or not isinstance(raw, int | float):
            raise _Invalid(f"got {_describe(raw)}")
        if whole and not isinstance(raw, int):
            raise _Invalid(f"{_show(raw)} is not a whole number")
        if not math.isfinite(raw):
            raise _Invalid(f"{_show(raw)} is not a finite number")
        if (
            (above is not None and not raw > above)
            or (least is not None and raw < least)
            or (most is not None and raw > most)
        ):
            raise _Invalid(f"{_show(raw)} is out of range")
        return raw if whole else float(raw)

    return _Scalar(allowed, parse)


def _flag() -> _Scalar:
    def parse(raw: object) -> bool:
        if not isinstance(raw, bool):
            raise _Invalid(f"got {_describe(raw)}")
        return raw

    return _Scalar("true or false", parse)


def _text(allowed: str = "a non-empty string", then: Callable[[str], Any] | None = None) -> _Scalar:
    """A string, non-empty and without surrounding blanks; ``then`` checks it further."""

    def parse(raw: object) -> Any:
        if not isinstance(raw, str):
            raise _Invalid(f"got {_describe(raw)}")
        if not raw.strip():
            raise _Invalid("got an empty string")
        if raw != raw.strip():
            raise _Invalid(f"{_show(raw)} has blanks at its start or end")
        return raw if then is None else then(raw)

    return _Scalar(allowed, parse)


def _choice(*options: str | int) -> _Scalar:
    allowed = "one of " + ", ".join(_show(option) for option in options)

    def parse(raw: object) -> Any:
        # bool is an int to Python, never a baud rate or a name to us
        if isinstance(raw, bool) or raw not in options:
            raise _Invalid(f"got {_describe(raw)}")
        return raw

    return _Scalar(allowed, parse)


def _pattern(regex: str, allowed: str) -> _Scalar:
    def check(text: str) -> str:
        if not re.fullmatch(regex, text):
            raise _Invalid(f"{_show(text)} is not allowed")
        return text

    return _text(allowed, check)

"""Fast constructors for the domain's frozen records, for the ingest path.

The ingest path builds tens of thousands of :mod:`gateway.domain` records a second, and a
frozen slotted dataclass pays for its immutability at construction: its ``__init__`` sets
every field through ``object.__setattr__``, which costs more than the rest of decoding a
row. :func:`fast_constructor` gives a function with the record's own signature that builds
the very same record about three times faster: it fills a twin class that has the same
slots and no frozen ``__setattr__`` (plain slot stores), then gives the object its real
class. The result is the record itself — frozen, equal, hashed and printed as usual; only
how it was filled differs. Should a record stop being a plain slotted dataclass (a
``__post_init__``, a default factory, a base class), the record's own constructor is
returned instead, so a change to the domain can slow this down but never make it wrong.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, TypeVar

R = TypeVar("R")


def fast_constructor(record: type[R]) -> Callable[..., R]:
    """A constructor for ``record`` (a frozen slotted dataclass): same parameters, same
    defaults, positional or by keyword; the record's own class when that cannot be done."""
    if not dataclasses.is_dataclass(record):
        return record
    fields = dataclasses.fields(record)
    names = tuple(f.name for f in fields)
    slots = record.__dict__.get("__slots__")
    if (
        slots is None
        or tuple(slots) != names
        or record.__bases__ != (object,)
        or hasattr(record, "__post_init__")
        or any(not f.init or f.default_factory is not dataclasses.MISSING for f in fields)
    ):
        return record
    twin = type(f"_{record.__name__}Twin", (), {"__slots__": names})
    try:  # the twin must share the record's memory layout for the class switch
        probe: Any = object.__new__(twin)
        probe.__class__ = record
    except TypeError:  # pragma: no cover - a layout CPython will not switch
        return record
    namespace: dict[str, Any] = {"_fc_new": object.__new__, "_fc_twin": twin, "_fc_record": record}
    params = []
    for f in fields:
        if f.default is dataclasses.MISSING:
            params.append(f.name)
        else:
            namespace[f"_fc_default_{f.name}"] = f.default
            params.append(f"{f.name}=_fc_default_{f.name}")
    stores = "".join(f"    _fc_obj.{name} = {name}\n" for name in names)
    source = (
        f"def build({', '.join(params)}):\n"
        "    _fc_obj = _fc_new(_fc_twin)\n"
        f"{stores}"
        "    _fc_obj.__class__ = _fc_record\n"
        "    return _fc_obj\n"
    )
    # Generated like dataclasses' own __init__: one plain store per field is the point.
    exec(source, namespace)
    build: Callable[..., R] = namespace["build"]
    build.__name__ = build.__qualname__ = f"new_{record.__name__}"
    build.__doc__ = f"Build a {record.__name__} (see adapters.hl7.records)."
    return build

"""Every serial device protocol the gateway reads, by the name ``[[serial]] kind`` uses.

Adding a device family is one module of the same shape (a ``Decoder`` and a ``PROTOCOL``;
see :mod:`adapters.serial.device`) and one line here; the configuration's list of kinds
must name the same set (a test holds them together).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from adapters.serial import ge_s5, hl7, ivy, masimo, medibus, nonin
from adapters.serial.device import DeviceProtocol
from gateway.errors import AdapterError

PROTOCOLS: Mapping[str, DeviceProtocol] = MappingProxyType(
    {
        p.kind: p
        for p in (
            masimo.PROTOCOL,
            nonin.PROTOCOL,
            ivy.PROTOCOL,
            hl7.PROTOCOL,
            ge_s5.PROTOCOL,
            medibus.PROTOCOL,
        )
    }
)


def protocol(kind: str) -> DeviceProtocol:
    """The protocol named ``kind``; AdapterError naming the known ones otherwise."""
    found = PROTOCOLS.get(kind)
    if found is None:
        known = ", ".join(PROTOCOLS)
        raise AdapterError(f"no serial device protocol {kind!r}; known: {known}")
    return found

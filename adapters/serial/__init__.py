"""Bedside devices on serial ports: the USB-serial hub fallback when the network is down.

``port`` opens a port through pyserial-asyncio-fast (and maps its errors once, to
:class:`~gateway.errors.AdapterError`); ``reader`` keeps one configured port open —
reopening it with backoff after a USB adapter is unplugged — and hands each complete
record to the hub. One module per device protocol, the same shape each time (``device``
holds the contract, ``registry`` the names): ``masimo`` (ASCII 1 lines), ``nonin`` (OEM III
format #2 frames), ``ivy`` (ANSAR-B frames), ``hl7`` (MLLP-framed HL7). ``status`` turns
the devices' status flags into device alarms; ``records`` builds the values they share.
Read-only towards devices: only HL7 writes, its ACKs. What each reads is in docs/serial.md.
"""

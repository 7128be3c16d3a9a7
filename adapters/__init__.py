"""Adapters: one package per wire protocol.

An adapter knows its wire format and nothing of beds or the ward: it turns bytes into
:class:`gateway.domain.DeviceReport` records and hands them to the core, answering the
device (ACK, keep-alive) only with what the protocol requires to receive data.
"""

"""The ward over MQTT: what the gateway publishes for remote screens, and what a remote
screen makes of it.

The topic tree and the payloads (:mod:`.topics`, :mod:`.payloads`, schema ``v1``, written
down in ``docs/mqtt.md``) are shared by both sides; the gateway's side is a bounded
hand-off from the hub (:mod:`.outbox`, :mod:`.feed`) and a connection loop
(:mod:`.publisher`); the screen's side builds a :class:`~gateway.ward.WardSnapshot` from
what arrives (:mod:`.remote_ward`) over a connection loop of its own (:mod:`.screen_link`).
Only :mod:`.client` imports aiomqtt.
"""

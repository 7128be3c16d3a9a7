"""MQTT ingest: devices or bridges publishing observations in the gateway's JSON schema v1.

The package reads in the order the bytes flow, with the same file names as its siblings:

``codec``    a topic and payload → a typed observation set (total: any bytes give one or
             DecodeError), and the other way for emitters
``mapping``  an observation set → the domain's report (observations, alarms, waves)
``ingest``   the broker connection: subscribe, hand each message to the hub, PUBACK after
             it is stored

The broker is reached only through :mod:`gateway.mqtt.client` (the one aiomqtt import).
Read-only towards devices: the ingest publishes nothing.
"""

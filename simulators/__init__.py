"""Device simulators: simulated patients and the bedside devices that report them.

Testers and the ``demo`` command use these to exercise the gateway without a patient: a
physiology engine makes plausible waves and the numbers a monitor derives from them,
scenarios (TOML timelines) make patients deteriorate and devices fail, encoders turn them
into what real devices send (IHE PCD-01/PCD-04 HL7, Masimo/Nonin/Ivy serial formats,
JSON over MQTT), and emitters carry the bytes over the real transports (TCP/MLLP,
pseudo-terminals, an MQTT broker) with the behaviour of real devices — resends, give-ups,
reconnects, silences. See docs/simulators.md.

Simulators are senders only: they must never import the gateway core's state, journal or
views, and nothing in the gateway may depend on them at run time.
"""

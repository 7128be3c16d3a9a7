"""Device simulators: simulated patients and the bedside monitors that report them.

Testers and the ``demo`` command use these to exercise the gateway without a patient: a
physiology engine makes plausible vitals, encoders turn them into what real devices send
(IHE PCD-01 ORU^R01 today), and emitters carry the bytes over the real transports (TCP/MLLP
today) with the behaviour of real monitors — resends, give-ups, reconnects.

Simulators are senders only: they must never import the gateway core's state, journal or
views, and nothing in the gateway may depend on them at run time.
"""

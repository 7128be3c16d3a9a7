"""icu-gateway: the core, and (in :mod:`gateway.app`) the one place that assembles it.

The folder tree is the data flow. At the top, the vocabulary every part speaks:
:mod:`~gateway.domain` (the records passed between layers), :mod:`~gateway.nomenclature`,
:mod:`~gateway.clock`, :mod:`~gateway.errors`, :mod:`~gateway.plausibility`,
:mod:`~gateway.admission`, :mod:`~gateway.config`; the :mod:`~gateway.hub`, where adapters
hand messages in (with :mod:`~gateway.fault_summary`). Then what the hub feeds:
:mod:`gateway.journal` (on disk before any ACK), :mod:`gateway.ward` (what is known now
about every bed) and :mod:`gateway.alarms`.

The core knows domain events and nothing of wire formats or screens: adapters
(``adapters/``) turn bytes into the records of :mod:`gateway.domain`, views (``tui/``) read
ward snapshots, and no module of the core imports either (``tests/test_layout.py``).
:mod:`gateway.app` — the service and the command line — is the only place that knows every
part.
"""

__version__ = "0.1.0"

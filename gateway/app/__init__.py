"""The application: the only place that knows every part — the core, the adapters
(``adapters/``) and the views (``tui/``).

* :mod:`~gateway.app.service` — a configuration assembled and run: hub, journal,
  listeners, serial readers, alarm timer, dashboard, under one TaskGroup;
* :mod:`~gateway.app.cli` — the ``icu-gateway`` command (``python -m gateway.app.cli``);
* :mod:`~gateway.app.export` — ``icu-gateway export``'s formats by name (the HL7 batch is
  the HL7 adapter's);
* :mod:`~gateway.app.replay` — ``icu-gateway replay``: a replay on the dashboard.
"""

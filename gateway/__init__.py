"""icu-gateway core: the domain model, configuration, ward state and the CLI.

The core knows domain events and nothing of wire formats; adapters (``adapters/``) turn
bytes into the records of :mod:`gateway.domain`, views (``tui/``) read ward snapshots.
"""

__version__ = "0.1.0"

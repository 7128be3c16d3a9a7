"""The Textual dashboard: every bed of the ward on one terminal screen, a bed in detail,
the devices.

Views only: the dashboard pulls :class:`gateway.ward.WardSnapshot` values on a timer and
draws them, and reads the trends and waves of the beds it shows through a
:class:`tui.view.TraceSource` (copies, judged fresh or stale by the ward). It never calls
an adapter, never writes to the ward state, never reads a clock, and never judges a value's
freshness itself — ``Reading.stale``, ``WaveWindow.stale`` and ``BedSnapshot.connectivity``
say that, and the dashboard only makes them impossible to miss.

``app`` (the application, its timer and global keys), ``view`` (what screens share),
``ward_screen`` / ``bed_screen`` / ``devices_screen`` / ``help_screen`` (the screens),
``widgets`` (header, tiles, grid, fault line), ``vitals`` (values as text), ``traces``
(waves and trends as braille), ``devices`` (device rows and config snippets).
"""

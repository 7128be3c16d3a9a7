"""The Textual dashboard: every bed of the ward on one terminal screen.

Views only: the dashboard pulls :class:`gateway.ward.WardSnapshot` values on a timer and
draws them. It never calls an adapter, never writes to the ward state, and never judges a
value's freshness itself — ``Reading.stale`` and ``BedSnapshot.connectivity`` say that, and
the dashboard only makes them impossible to miss.
"""

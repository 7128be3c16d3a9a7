"""Changes to the beds made from a screen: what the devices screen and the bed screen share.

:class:`BedChanges` is a mixin for a :class:`~tui.view.WardView` with a gateway behind it
(``self.dashboard.beds``, a :class:`~tui.view.BedDesk`): it asks for an admission or a
discharge (:class:`~tui.binding_screen.AdmitScreen`, :class:`~tui.binding_screen.DischargeScreen`,
each asking who makes the change), carries the change out in a worker and says what came
of it — the desk's answer, or why it was refused — so a failure is never a dead screen.
The devices screen admits to the bed of the device under its cursor; the bed screen to its
bed, which may have no device yet (a monitor about to be plugged in).
"""

from __future__ import annotations

import logging
from collections.abc import Coroutine
from typing import Any

from gateway.errors import BindingRefused
from tui.binding_screen import AdmitRequest, AdmitScreen, DischargeRequest, DischargeScreen
from tui.view import WardView

log = logging.getLogger("tui.beds")


class BedChanges(WardView):
    """Admit, discharge, and run any change of the beds (see the module docstring)."""

    _admitting: tuple[str, str] = ("", "")

    @property
    def _operator(self) -> str:
        return str(getattr(self.app, "operator", "") or "")

    def ask_admission(self, bed_key: str, label: str) -> None:
        """Ask for the patient admitted to bed ``bed_key`` (shown as ``label``)."""
        desk, ward = self.dashboard.beds, self.ward
        if desk is None or ward is None:
            return
        current = desk.admission(bed_key)
        shown = next((b for b in ward.beds if b.bed.key == bed_key), None)
        sent = "" if shown is None or shown.patient_entered else shown.patient_id
        self._admitting = (bed_key, label)
        who = None if current is None else (current.patient_id, current.patient_name)
        screen = AdmitScreen(label, who, sent, self._operator)
        self.app.push_screen(screen, callback=self._admit)

    def _admit(self, answer: object) -> None:
        desk = self.dashboard.beds
        if not isinstance(answer, AdmitRequest) or desk is None:
            return
        key, label = self._admitting
        self.run_change(
            desk.admit(key, label, answer.patient_id, answer.patient_name, answer.operator)
        )

    def ask_discharge(self, bed_key: str, label: str) -> None:
        """Ask to discharge the patient admitted to ``bed_key`` at the gateway (said when
        there is none: a device's own admission is discharged at the monitor)."""
        desk = self.dashboard.beds
        if desk is None:
            return
        current = desk.admission(bed_key)
        if current is None:
            self.notify(
                f"Nobody is admitted to {label} at the gateway (a patient id a device sends"
                " is the monitor's admission: discharge there).",
                severity="warning",
            )
            return
        self._admitting = (bed_key, label)
        who = " ".join(part for part in (current.patient_name, f"({current.patient_id})") if part)
        self.app.push_screen(DischargeScreen(label, who, self._operator), callback=self._discharge)

    def _discharge(self, answer: object) -> None:
        desk = self.dashboard.beds
        if not isinstance(answer, DischargeRequest) or desk is None:
            return
        key, label = self._admitting
        self.run_change(desk.discharge(key, label, answer.operator))

    def run_change(self, change: Coroutine[Any, Any, str]) -> None:
        """Carry out a change of the beds in a worker; say its answer or its refusal."""

        async def apply() -> None:
            try:
                said = await change
            except BindingRefused as refused:
                self.notify(str(refused), severity="error", timeout=8)
                return
            except Exception as exc:  # a bug: said, never a dead screen
                log.exception("changing the beds failed")
                self.notify(f"The change failed: {exc!r}", severity="error", timeout=8)
                return
            self.notify(said, timeout=5)
            pull = getattr(self.app, "pull_snapshot", None)
            if pull is not None:
                pull()  # shown now, not at the next tick

        self.run_worker(apply(), group="beds", exit_on_error=False)

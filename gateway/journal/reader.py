"""The journal's reading side: :class:`JournalReader` and :func:`read_reports`.

Its own read-only connection, blocking — call it from a thread (``asyncio.to_thread``) or
from a command-line tool, never on the event loop. It serves the restart rebuild, export
and replay, paging through ids so a long export never holds one read transaction open.
The rows it reads are made records again by :mod:`gateway.journal.decode`.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import sqlite3
import zlib
from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gateway.domain import AlarmTransition, BedId
from gateway.errors import JournalError
from gateway.journal.admissions import ADMISSION_KEY, AdmissionTimeline
from gateway.journal.decode import (
    _HOUR_NS,
    Row,
    _add_hourly,
    _alarm,
    _cut,
    _Hour,
    _HourKey,
    _hourly_order,
    _part_reports,
    _stored_reports,
    _transition,
)
from gateway.journal.records import (
    HourlySummary,
    Outcome,
    StoredAlarm,
    StoredMessage,
    StoredObservation,
    StoredReport,
)
from gateway.journal.schema import READABLE_VERSIONS, SCHEMA_VERSION, read_bundle

PAGE = 500
"""Messages read per query: bounds memory and the length of each read transaction."""
_NO_ID = (1 << 63) - 1
_REPORT_COLUMNS = (
    "m.id, m.receive_ns, m.transport, m.peer, m.control_id, m.reports, m.raw_size, m.bundle_row,"
    " m.bundle_offset, m.bundle, {layout}"
)
_BED_PAGE = (
    "SELECT {columns} FROM bed_messages b CROSS JOIN messages m ON m.id = b.message_id"
    " WHERE b.bed = ? AND b.message_id >= ? AND b.message_id <= ? ORDER BY b.message_id LIMIT ?"
)
_PAGE = (
    "SELECT {columns} FROM messages m WHERE m.id >= ? AND m.id <= ?"
    " AND m.reports IS NOT NULL ORDER BY m.id LIMIT ?"
)
_LATEST_PAGE = (
    "SELECT {columns} FROM messages m WHERE m.id >= ? AND m.id <= ?"
    " AND m.reports IS NOT NULL ORDER BY m.id DESC LIMIT ?"
)
BUNDLES_CACHED = 1024
BUNDLE_BYTES_CACHED = 32 * 1024 * 1024
"""Decompressed bundles a reader keeps (at most so many, of so many bytes in all): reading
in order decompresses each one once — a ward's packs, one per device, interleave."""


@dataclass(slots=True)
class _Page:
    """Messages read in one snapshot, with what their reports need from elsewhere."""

    rows: list[Row]
    reports: list[list[Any]]
    """Each row's ``reports``, decoded."""
    alarms: dict[tuple[int, int], list[Row]]
    """Alarm rows by (message id, report seq)."""
    bundles: dict[int, bytes]
    """Decompressed bundles by the id of the message holding them."""


class JournalReader:
    """Read-only access to a journal (rebuild, export, replay, inspection). Blocking."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise JournalError(f"no journal at {self.path}")
        try:
            self._conn = sqlite3.connect(
                f"{self.path.resolve().as_uri()}?mode=ro", uri=True, check_same_thread=False
            )
            version = self._conn.execute("PRAGMA user_version").fetchone()[0]
        except sqlite3.Error as exc:
            raise JournalError(f"cannot read the journal {self.path}: {exc}") from exc
        if version not in READABLE_VERSIONS:
            self._conn.close()
            readable = " and ".join(map(str, READABLE_VERSIONS))
            if 0 < version < SCHEMA_VERSION:
                raise JournalError(
                    f"{self.path} was written by an older icu-gateway (journal schema"
                    f" {version}); this one reads schema {readable}"
                )
            raise JournalError(
                f"{self.path} is not an icu-gateway journal (schema {version}, expected {readable})"
            )
        # A schema 2 file not opened by a writer since: every row is of its layout.
        self._layout = "m.layout" if version >= 3 else "NULL"
        columns = _REPORT_COLUMNS.format(layout=self._layout)
        self._bed_page = _BED_PAGE.format(columns=columns)
        self._all_page = _PAGE.format(columns=columns)
        self._latest_page = _LATEST_PAGE.format(columns=columns)
        self._bundles: dict[int, bytes] = {}
        self._bundle_bytes = 0

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> JournalReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _query(self, sql: str, args: Sequence[object] = ()) -> list[Any]:
        try:
            return self._conn.execute(sql, args).fetchall()
        except sqlite3.Error as exc:
            raise JournalError(f"cannot read the journal {self.path}: {exc}") from exc

    @contextlib.contextmanager
    def _snapshot(self) -> Iterator[None]:
        """One read transaction: the queries in it see one state of the file (a message and
        the bundle holding its bytes, though retention may run meanwhile)."""
        self._query("BEGIN")
        try:
            yield
        finally:
            with contextlib.suppress(sqlite3.Error):  # a read transaction: nothing to lose
                self._conn.execute("COMMIT")

    def _unbundle(
        self, holders: Iterable[tuple[int, int | None]], known: dict[int, bytes]
    ) -> dict[int, bytes]:
        """The decompressed bundles ``holders`` names — (``bundle_row``, layout) of messages,
        in a snapshot — by ``bundle_row``; ``known``: bundles already read, by holder."""
        found: dict[int, bytes] = {}
        for holder, layout in holders:
            data = self._bundles.get(holder)
            if data is None:
                blob = known.get(holder)
                what = f"bundle {holder}" if layout == 4 else f"the bundle of message {holder}"
                if blob is None:
                    try:
                        blob = read_bundle(self._conn, holder, layout)
                    except sqlite3.Error as exc:
                        raise JournalError(f"cannot read the journal {self.path}: {exc}") from exc
                if blob is None:
                    raise JournalError(f"{self.path}: {what} is missing")
                try:
                    data = zlib.decompress(blob)
                except zlib.error as exc:
                    raise JournalError(f"{self.path}: {what}: {exc}") from exc
                while self._bundles and (
                    len(self._bundles) >= BUNDLES_CACHED
                    or self._bundle_bytes + len(data) > BUNDLE_BYTES_CACHED
                ):
                    self._bundle_bytes -= len(self._bundles.pop(next(iter(self._bundles))))
                self._bundles[holder] = data
                self._bundle_bytes += len(data)
            found[holder] = data
        return found

    # -- ranges

    def id_range(self, since_ns: int | None = None, until_ns: int | None = None) -> tuple[int, int]:
        """The message ids received in [since, until) (an empty range is (1, 0)). Each bound
        is one step of the time index (``min(id) WHERE receive_ns >= ?`` walked the table
        from its first row: most of a day's file for the last minutes of it)."""
        if since_ns is None:
            low = self._query("SELECT min(id) FROM messages")[0][0]
        else:
            found = self._query(
                "SELECT id FROM messages WHERE receive_ns >= ? ORDER BY receive_ns, id LIMIT 1",
                (since_ns,),
            )
            low = found[0][0] if found else None
        if until_ns is None:
            high = self._query("SELECT max(id) FROM messages")[0][0]
        else:
            found = self._query(
                "SELECT id FROM messages WHERE receive_ns < ?"
                " ORDER BY receive_ns DESC, id DESC LIMIT 1",
                (until_ns,),
            )
            high = found[0][0] if found else None
        if low is None or high is None:
            return 1, 0
        return int(low), int(high)

    def time_range(self, until_ns: int | None = None) -> tuple[int, int] | None:
        """Receive times of the first and last message (received before ``until_ns``), or
        None for an empty journal."""
        bound = (1 << 63) - 1 if until_ns is None else until_ns
        # Two queries: each is one step of the time index, where min() and max() together
        # would scan all of it.
        low = self._query("SELECT min(receive_ns) FROM messages WHERE receive_ns < ?", (bound,))
        high = self._query("SELECT max(receive_ns) FROM messages WHERE receive_ns < ?", (bound,))
        low, high = low[0][0], high[0][0]
        if low is None or high is None:
            return None
        return int(low), int(high)

    def beds(self) -> list[tuple[BedId, str]]:
        """Every bed with a report in the journal, with its latest label, by bed id."""
        labels = {str(bed): str(label) for bed, label in self._query("SELECT bed, label FROM beds")}
        low = self._indexed_through() + 1  # newer: not indexed yet
        while (
            page := self._page(self._all_page, (low, _NO_ID, PAGE), None, whole=False)
        ) is not None:
            for reports in page.reports:
                for report in reports:
                    if report[0] is not None:
                        labels[str(report[0])] = str(report[1])
            low = int(page.rows[-1][0]) + 1
        return [(BedId(bed), labels[bed]) for bed in sorted(labels)]

    def _indexed_through(self) -> int:
        rows = self._query("SELECT value FROM journal_state WHERE name = 'beds_indexed_through'")
        return int(rows[0][0]) if rows else 0

    # -- messages

    def messages(
        self, *, since_ns: int | None = None, until_ns: int | None = None
    ) -> Iterator[StoredMessage]:
        low, high = self.id_range(since_ns, until_ns)
        while low <= high:
            with self._snapshot():
                rows = self._query(
                    "SELECT id, receive_ns, transport, peer, device, control_id, outcome,"
                    " reason, resends, raw_size, bundle_row, bundle_offset, bundle,"
                    f" {self._layout} FROM messages m"
                    " WHERE id >= ? AND id <= ? ORDER BY id LIMIT ?",
                    (low, high, PAGE),
                )
                bundles = self._unbundle(
                    {(row[10], row[13]) for row in rows},
                    {row[0]: row[12] for row in rows if row[12]},
                )
            if not rows:
                return
            for row in rows:
                ident, receive, transport, peer, device, control, outcome, reason = row[:8]
                resends, size, holder, offset, _, layout = row[8:]
                yield StoredMessage(
                    int(ident),
                    int(receive),
                    str(transport),
                    str(peer),
                    None if device is None else str(device),
                    str(control),
                    Outcome(outcome),
                    None if reason is None else str(reason),
                    _cut(bundles[holder], offset, size, ident, layout),
                    int(resends),
                )
            low = int(rows[-1][0]) + 1

    def raw(self, message_row: int) -> bytes:
        """The raw bytes of one stored message (empty if it was pruned)."""
        with self._snapshot():
            rows = self._query(
                f"SELECT raw_size, bundle_row, bundle_offset, bundle, {self._layout}"
                " FROM messages m WHERE id = ?",
                (message_row,),
            )
            if not rows:
                return b""
            size, holder, offset, blob, layout = rows[0]
            bundles = self._unbundle(((holder, layout),), {message_row: blob} if blob else {})
        return _cut(bundles[holder], offset, size, message_row, layout)

    # -- reports, with everything decoded from them

    def reports(
        self,
        *,
        bed: BedId | None = None,
        since_ns: int | None = None,
        until_ns: int | None = None,
        values_only: bool = False,
    ) -> Iterator[StoredReport]:
        """Stored reports in arrival order, each whole (observations, waveforms, alarms) —
        or, ``values_only``, with their observations alone: no bundle is decompressed and
        no alarm row read (what the trend back-fill needs, at ~2x the pace with waves)."""
        key = None if bed is None else bed.key
        whole = not values_only
        for page in self._report_pages(key, since_ns, until_ns, whole=whole):
            for row, reports in zip(page.rows, page.reports, strict=True):
                yield from _stored_reports(
                    row, reports, key, page.alarms, page.bundles, waves=whole
                )

    def latest_reports(
        self, *, since_ns: int | None = None, until_ns: int | None = None
    ) -> list[StoredReport]:
        """The newest reports of [since, until), with their observations alone, oldest
        first: read back from ``until`` until every sender of the range (by the messages'
        device and peer) has given its newest message and every device read a report with
        values — what each bed and device looked like last, without reading the whole
        range (a sender that never sends values reads it all)."""
        low, high = self.id_range(since_ns, until_ns)
        if low > high:
            return []
        newest = self._query(
            "SELECT min(last) FROM (SELECT max(id) AS last FROM messages WHERE id >= ?"
            " AND id <= ? AND reports IS NOT NULL GROUP BY device, peer)",
            (low, high),
        )[0][0]
        pages: list[list[StoredReport]] = []
        waiting: set[str] = set()
        valued: set[str] = set()
        while low <= high:
            page = self._page(self._latest_page, (low, high, PAGE), None, whole=False)
            if page is None:
                break
            found: list[StoredReport] = []
            for row, reports in zip(page.rows, page.reports, strict=True):
                found += _stored_reports(row, reports, None, {}, page.bundles, waves=False)
            for stored in found:
                report = stored.routed.report
                key = report.device.key
                if report.observations:
                    valued.add(key)
                    waiting.discard(key)
                elif key not in valued:
                    waiting.add(key)
            found.reverse()  # read newest first
            pages.append(found)
            high = int(page.rows[-1][0]) - 1
            if newest is not None and high < newest and not waiting:
                break
        return [stored for page in reversed(pages) for stored in page]

    def _report_pages(
        self, bed: str | None, since_ns: int | None, until_ns: int | None, *, whole: bool
    ) -> Iterator[_Page]:
        """Pages of the messages with reports in the time range — of one bed: those the bed
        index names, then the newest ones, not indexed yet, that may hold the bed. With
        ``whole``, each page comes with the alarm rows and bundles its reports need."""
        low, high = self.id_range(since_ns, until_ns)
        if bed is not None:
            through = self._indexed_through()  # may move on meanwhile: what it covered stays
            indexed_high = min(high, through)
            while low <= indexed_high:
                page = self._page(self._bed_page, (bed, low, indexed_high, PAGE), bed, whole)
                if page is None:
                    break
                yield page
                low = int(page.rows[-1][0]) + 1
            low = max(low, through + 1)
        while low <= high:
            page = self._page(self._all_page, (low, high, PAGE), bed, whole)
            if page is None:
                return
            yield page
            low = int(page.rows[-1][0]) + 1

    def _page(self, sql: str, args: Sequence[object], bed: str | None, whole: bool) -> _Page | None:
        with self._snapshot():
            rows = self._query(sql, args)
            if not rows:
                return None
            known = {row[0]: row[9] for row in rows if row[9]}
            folded = {(row[7], row[10]) for row in rows if row[10] is not None}
            bundles = self._unbundle(folded, known) if folded else {}
            reports = [
                json.loads(row[5])
                if row[10] is None
                else _part_reports(bundles[row[7]], row[8], row[0])
                for row in rows
            ]
            page = _Page(rows, reports, {}, bundles)
            if not whole:
                return page
            mine = [
                (row, report)
                for row, documents in zip(rows, reports, strict=True)
                for report in documents
                if bed is None or report[0] == bed
            ]
            if any(report[9] for _, report in mine):
                page.alarms = self._alarm_rows(int(rows[0][0]), int(rows[-1][0]))
            holders = {(row[7], row[10]) for row, report in mine if report[8]}
            holders = {(holder, layout) for holder, layout in holders if holder not in bundles}
            if holders:
                page.bundles.update(self._unbundle(holders, known))
            return page

    def _alarm_rows(self, first: int, last: int) -> dict[tuple[int, int], list[Row]]:
        """The alarm rows of the messages first…last, keyed by (message id, report seq)."""
        rows = self._query(
            "SELECT message_id, report_seq, time_ns, device, code, text, priority, kind, phase,"
            " state, inactivation, source, alarm_id, parameter_code, parameter_label, num, txt,"
            " unit, limits, source_code, sub_id FROM alarms"
            " WHERE message_id >= ? AND message_id <= ? ORDER BY message_id, report_seq, seq",
            (first, last),
        )
        children: dict[tuple[int, int], list[Row]] = {}
        for row in rows:
            children.setdefault((row[0], row[1]), []).append(row)
        return children

    def observations(
        self,
        *,
        bed: BedId | None = None,
        since_ns: int | None = None,
        until_ns: int | None = None,
    ) -> Iterator[StoredObservation]:
        """Every observation, in arrival order, with its bed and patient (for CSV / JSON
        lines): the patient its device sent, else the one admitted to the bed at the
        gateway when it was received (:mod:`gateway.journal.admissions`)."""
        admissions = self.admissions()
        for stored in self.reports(bed=bed, since_ns=since_ns, until_ns=until_ns):
            routed = stored.routed
            report = routed.report
            patient_id, patient_name = report.patient_id, report.patient_name
            if admissions:
                patient_id, patient_name = admissions.patient(
                    None if routed.bed is None else routed.bed.key,
                    report.receive_time_ns,
                    patient_id,
                    patient_name,
                )
            for obs in report.observations:
                yield StoredObservation(routed.bed, routed.bed_label, obs, patient_id, patient_name)

    def admissions(self) -> AdmissionTimeline:
        """The patients admitted to beds at the gateway over the whole journal."""
        rows = self._query(
            "SELECT time_ns, bed, bed_label, alarm, change, priority, kind, source, text,"
            " operator, device, device_label FROM alarm_log WHERE alarm = ? ORDER BY time_ns",
            (ADMISSION_KEY,),
        )
        return AdmissionTimeline(_transition(row) for row in rows)

    def hourly(
        self, bed: BedId, *, since_ns: int | None = None, until_ns: int | None = None
    ) -> list[HourlySummary]:
        """Valid numeric readings of a bed summarised per measurement hour (UTC hours), by
        hour, then code, source code (none first), sub-id and unit."""
        groups: dict[_HourKey, _Hour] = {}
        for page in self._report_pages(bed.key, since_ns, until_ns, whole=False):
            for reports in page.reports:
                for report in reports:
                    if report[0] == bed.key:
                        _add_hourly(groups, report)
        return [
            HourlySummary(
                key[0] * _HOUR_NS,
                key[1],
                key[2],
                hour.label,
                key[4],
                key[3],
                hour.count,
                hour.total / hour.count,
                hour.low,
                hour.high,
                key[5],
                key[6],
            )
            for key, hour in sorted(groups.items(), key=_hourly_order)
        ]

    def alarms(
        self, bed: BedId, *, since_ns: int | None = None, until_ns: int | None = None
    ) -> list[StoredAlarm]:
        """A bed's alarm transitions in [since, until) by the alarm's own time."""
        rows = self._query(
            "SELECT message_id, report_seq, time_ns, device, code, text, priority, kind, phase,"
            " state, inactivation, source, alarm_id, parameter_code, parameter_label, num, txt,"
            " unit, limits, source_code, sub_id FROM alarms"
            " WHERE bed = ? AND time_ns >= ? AND time_ns < ? ORDER BY time_ns",
            (
                bed.key,
                -(1 << 63) if since_ns is None else since_ns,
                (1 << 63) - 1 if until_ns is None else until_ns,
            ),
        )
        return [StoredAlarm(bed, _alarm(row, None, "")) for row in rows]

    def alarm_log(
        self,
        bed: BedId | None = None,
        *,
        ward: bool = False,
        since_ns: int | None = None,
        until_ns: int | None = None,
    ) -> list[AlarmTransition]:
        """The alarm engine's transitions in [since, until), oldest first: of one bed, of
        the ward-wide entries (``bed`` None), or all (``ward``)."""
        where = "time_ns >= ? AND time_ns < ?"
        args: list[object] = [
            -(1 << 63) if since_ns is None else since_ns,
            (1 << 63) - 1 if until_ns is None else until_ns,
        ]
        if not ward:
            where += " AND bed IS ?"
            args.append(None if bed is None else bed.key)
        rows = self._query(
            "SELECT time_ns, bed, bed_label, alarm, change, priority, kind, source, text,"
            f" operator, device, device_label FROM alarm_log WHERE {where} ORDER BY time_ns",
            args,
        )
        return [_transition(row) for row in rows]


async def read_reports(
    path: str | Path,
    *,
    bed: BedId | None = None,
    since_ns: int | None = None,
    until_ns: int | None = None,
    chunk: int = 4 * PAGE,
    values_only: bool = False,
) -> AsyncIterator[list[StoredReport]]:
    """Stored reports in arrival order, ``chunk`` at a time, read in a worker thread so the
    event loop never waits on the disk (the restart rebuild and replay use this);
    ``values_only`` as in :meth:`JournalReader.reports`."""
    reader = await asyncio.to_thread(JournalReader, path)
    try:
        reports = reader.reports(
            bed=bed, since_ns=since_ns, until_ns=until_ns, values_only=values_only
        )
        while True:
            batch = await asyncio.to_thread(_take, reports, chunk)
            if not batch:
                return
            yield batch
    finally:
        reader.close()


def _take(reports: Iterator[StoredReport], count: int) -> list[StoredReport]:
    return list(itertools.islice(reports, count))

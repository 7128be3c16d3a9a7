"""The journal's checkpointer: the writer process's second thread, which copies the WAL into
the database file so that the writer's commits never do (the why is :class:`Checkpointer`'s).

It runs in the writer process (:mod:`gateway.journal.writer`), with a connection of its own.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from pathlib import Path

from gateway.journal.protocol import describe_failure
from gateway.journal.schema import WAL_RESTART_PAGES

log = logging.getLogger("gateway.journal")


class Checkpointer:
    """Copies the WAL into the database file from a thread and connection of its own.

    SQLite's automatic checkpoint runs inside the commit that crosses its threshold, so the
    messages of that batch wait for ~1,000 pages to be copied and the file fsynced (4–5 ms
    here), a stall every second or so at 1,000 msg/s. A PASSIVE checkpoint from another
    connection copies the same pages while the writer goes on committing, and never waits
    for anyone. But the WAL only starts over at a commit that finds all of it copied, which
    a writer that never pauses never does: past :data:`WAL_RESTART_PAGES` the checkpointer
    asks the writer (``restart_wanted``) to run one PASSIVE checkpoint itself between two
    batches — it copies the little that is left, and the next commit starts the WAL over.
    (A RESTART checkpoint from here would hold the writer while it waits for readers.)
    """

    def __init__(self, path: Path, busy_timeout_s: float, interval_s: float) -> None:
        self.path = path
        self.busy_timeout_s = busy_timeout_s
        self.interval_s = interval_s
        self.restart_wanted = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._failure: str | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="journal-checkpoint", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def _run(self) -> None:
        conn: sqlite3.Connection | None = None
        while not self._stop.wait(self.interval_s):
            try:
                if conn is None:
                    # rw, never create: a journal that could not be created stays absent.
                    conn = sqlite3.connect(
                        f"{self.path.resolve().as_uri()}?mode=rw",
                        uri=True,
                        timeout=self.busy_timeout_s,
                        isolation_level=None,
                    )
                _, pages, _ = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                if pages >= WAL_RESTART_PAGES:
                    self.restart_wanted = True
                self._failure = None
            except sqlite3.Error as exc:
                # The writer reports storage failures to devices and staff; here they only
                # mean the WAL is copied later (or by the writer itself, past its limit).
                text = describe_failure(self.path, exc)
                if self._failure != text:
                    log.warning("journal: checkpoint: %s", text)
                self._failure = text
                if conn is not None:
                    conn.close()
                    conn = None
        if conn is not None:
            conn.close()

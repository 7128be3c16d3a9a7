"""The journal's file: its SQLite schema, the JSON its reports are kept in, and the numbers
both of its sides work to.

One SQLite file in WAL mode. Each message received is **one row** of ``messages``: receive
time, peer, transport, device, MSH-10, accepted or rejected and why — and what was decoded
from it: its reports, each with the bed routing gave it, their observations and the
description of their waveform chunks, as one JSON text. Its bytes as received, and its
waveform samples and reports, are its *part* of a bundle (a row of ``bundles``): the parts
of the messages one statement wrote, zlib-compressed together — until the writer packs a
device's messages of many commits into one (:mod:`gateway.journal.packer`). Alarm transitions, which
are looked up by bed and by time, also get rows of their own. Ids grow in arrival order,
so a time range is a range of ids and retention is a cheap delete of the oldest ids.

Why so: what a message costs the writer is SQLite's work, and a row per observation cost a
row to bind and a B-tree to touch each; a commit that touches fewer pages writes less to
the WAL. One row per message makes a batch one transaction of two multi-row ``INSERT``
statements (its bundle, its messages) and one fsync. One zlib call per bundle
instead of one per message, and messages from monitors alike compress far better together
(~60 bytes each for a numerics ORU in a bundle of 9, against ~370 alone).

A bed's messages are found through ``bed_messages`` (bed, message id), written in bulk every
:data:`BED_INDEX_LAG` messages rather than at every commit: an index keyed by bed puts each
bed in its own leaf page, so a commit of one message from each of 16 beds would rewrite 16
pages of it. The messages after ``journal_state.beds_indexed_through`` are not in it yet;
readers scan those few directly. The index is derived data, rebuilt from the messages
themselves when the file is opened, so a crash costs it nothing.
"""

from __future__ import annotations

import json
import numbers
import sqlite3
import zlib

SCHEMA_VERSION = 4
"""1: a row per report, per observation and per waveform chunk; 2: a row per message, its
reports as JSON text in the row, its float32 samples in its bundle; 3: as 2, but a row's
reports JSON is in its bundle too and its samples and bytes are folded
(:mod:`gateway.journal.parts`) — rows of layout 3, beside the rows of a schema 2 file
upgraded to 3 (:data:`UPGRADE_FROM_2`: one column added, nothing rewritten); 4: as 3, but
the bundles of rows of layout 4 are rows of a table of their own, ``bundles``: a commit's
(id: its first message's), or a *pack* of one device's messages of many commits (id: minus
its first message's, :mod:`gateway.journal.packer`) — :data:`UPGRADE_FROM_3`: one table
added, the rows of layout 3 keep their bundles until they are packed. A file of another
version is refused with a clear error, never rewritten."""
READABLE_VERSIONS = (2, 3, 4)
LAYOUT = 4
"""``messages.layout`` of the rows written now (NULL: a row written by schema 2; 3: its part
in the bundle of the message ``bundle_row``; 4: the same part, in the row ``bundle_row``
of ``bundles``)."""
DEFAULT_RETENTION_H = 72.0
DEFAULT_DUPLICATE_WINDOW_S = 600.0
"""A resend of the same message within this long is stored once (devices resend within
seconds; ten minutes covers a monitor that reconnects after a switch reboot)."""
DEFAULT_BUSY_TIMEOUT_S = 1.0
"""How long a write waits on a database locked by another process before failing: long
enough for a stray reader's checkpoint, short enough that devices get their NAK in time."""
MAX_BATCH = 4096
"""Most messages one commit covers (bounds the time one commit holds the writer)."""
MESSAGES_PER_INSERT = 64
"""Most message rows one ``INSERT`` statement carries, and one bundle holds the bytes of. A
batch up to this size (16 monitors waiting for their ACK make batches of at most 16) is one
statement in autocommit mode; a bundle this size decompresses in well under a millisecond
when a reader wants one message of it."""
BED_INDEX_LAG = 1024
"""Messages written before their beds are indexed, in one transaction of their own: each
bed's leaf page of the index is rewritten once per this many messages instead of at every
commit, and a reader scans at most this many (plus one batch) unindexed messages."""
CHECKPOINT_INTERVAL_S = 0.2
"""How often the checkpointer copies the WAL into the database file."""
WAL_RESTART_PAGES = 4000
"""A WAL this long (16 MiB of 4 KiB pages) is made to start over
(:mod:`gateway.journal.checkpointer`)."""
WAL_WRITER_CHECKPOINT_PAGES = 20000
"""The writer checkpoints itself only past this, when the checkpointer cannot."""
PRUNE_BATCH = 256
"""Messages deleted per retention step: small, so ingest waits at most a few ms for one."""
_ZLIB_LEVEL = 1
"""zlib level of the bundles: level 1 is ~2x faster than the default, for ~5 % more bytes."""
PACK_ZLIB_LEVEL = 6
"""zlib level of the packs (written once a device's messages are many, off the ACK path)."""


def compress(data: bytes, level: int = _ZLIB_LEVEL) -> bytes:
    """``data`` as a zlib stream (what ``zlib.decompress`` reads), with a window no larger
    than ``data``. ``zlib.compress`` sets up a 32 KiB window and ~256 KiB of tables at every
    call, which glibc maps afresh each time: for a commit bundle of one message (~2 KiB)
    that is 19 page faults and 45 µs in the kernel beside 19 µs of compressing. A window of
    the data's size takes a few tens of KiB, no faults, 15 µs in all, and nearly the same
    bytes (the simulator's messages, one a bundle: 678 bytes on average against 677)."""
    bits = min(15, max(9, (len(data) - 1).bit_length()))
    stream = zlib.compressobj(level, zlib.DEFLATED, bits, max(1, bits - 7))
    return stream.compress(data) + stream.flush()


UPGRADE_FROM_2 = """
ALTER TABLE messages ADD COLUMN layout INTEGER;  -- NULL: written by schema 2; 3: LAYOUT
"""
"""What makes a schema 2 file a schema 3 one: its rows stay as they are (layout NULL) and
are read as such; the rows written from then on have layout 3."""

UPGRADE_FROM_3 = """
CREATE TABLE IF NOT EXISTS bundles (
    id INTEGER PRIMARY KEY,          -- > 0: a commit's, the id of its first message;
                                     -- < 0: a pack's, minus the id of its first message
    last_message INTEGER NOT NULL,   -- its newest message: retention drops it with that one
    data BLOB NOT NULL               -- zlib of the parts of its messages, one after the other
);
INSERT OR IGNORE INTO journal_state VALUES ('packed_through', 0);
"""
"""What makes a schema 3 file a schema 4 one: a table for the bundles of the rows written
from then on (layout 4) and for packs; its rows of layout 3 keep their bundles in
``messages.bundle`` until the writer packs them. Why a table apart: a row that loses its
bundle to a pack shrinks in place, and SQLite never merges the page it leaves near empty
(packing rows of layout 3 does that, once)."""


_SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY,          -- arrival order; everything below is keyed by it
    receive_ns INTEGER NOT NULL,     -- UTC ns, the gateway's clock
    transport TEXT NOT NULL,
    peer TEXT NOT NULL,
    device TEXT,                     -- DeviceId.key of the sender, when known
    device_label TEXT,
    control_id TEXT NOT NULL,        -- MSH-10
    outcome TEXT NOT NULL,           -- 'accepted' | 'rejected'
    reason TEXT,                     -- why rejected
    raw_size INTEGER NOT NULL,       -- bytes as received
    raw_crc INTEGER NOT NULL,        -- crc32 of the raw bytes: resends are recognised by it
    resends INTEGER NOT NULL DEFAULT 0,
    reports TEXT,                    -- JSON: what was decoded (see REPORT_FIELDS); NULL: none;
                                     -- '' (layout 3): the JSON is in the message's part
    bundle_row INTEGER NOT NULL,     -- the message whose bundle holds this one's bytes
                                     -- (layout 4: the row of ``bundles`` holding them) …
    bundle_offset INTEGER NOT NULL,  -- … from here (decompressed): its part (layout 3), or
                                     -- raw bytes, then float32 samples (layout NULL)
    bundle BLOB                      -- zlib of the bytes of the messages that point here
);
CREATE INDEX IF NOT EXISTS messages_time ON messages (receive_ns);

CREATE TABLE IF NOT EXISTS bed_messages (
    bed TEXT NOT NULL,               -- a bed with a report in the message
    message_id INTEGER NOT NULL,
    PRIMARY KEY (bed, message_id)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS beds (
    bed TEXT PRIMARY KEY,
    label TEXT NOT NULL,             -- the label of its latest indexed report
    last_message_id INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS journal_state (
    name TEXT PRIMARY KEY,
    value INTEGER NOT NULL
) WITHOUT ROWID;
INSERT OR IGNORE INTO journal_state VALUES ('beds_indexed_through', 0), ('pruned_through', 0);

CREATE TABLE IF NOT EXISTS alarms (
    message_id INTEGER NOT NULL,
    report_seq INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    bed TEXT,
    time_ns INTEGER NOT NULL,
    device TEXT NOT NULL,
    code INTEGER NOT NULL,
    text TEXT NOT NULL,
    priority INTEGER NOT NULL,       -- 0 none … 3 high
    kind TEXT NOT NULL,
    phase TEXT NOT NULL,
    state TEXT NOT NULL,
    inactivation TEXT NOT NULL,
    source TEXT NOT NULL,
    alarm_id TEXT NOT NULL,
    parameter_code INTEGER,
    parameter_label TEXT NOT NULL,
    num REAL,                        -- the value that raised it …
    txt TEXT,                        -- … or its text
    unit TEXT NOT NULL,
    limits TEXT NOT NULL,
    source_code TEXT,
    sub_id TEXT NOT NULL,
    PRIMARY KEY (message_id, report_seq, seq)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS alarms_bed_time ON alarms (bed, time_ns);

-- The alarm engine's transitions (raised, acknowledged, audio paused …) with the operator:
-- not decoded from a message, so not keyed by one.
CREATE TABLE IF NOT EXISTS alarm_log (
    time_ns INTEGER NOT NULL,
    bed TEXT,                        -- NULL: ward-wide (recording, unassigned, audio, operator)
    bed_label TEXT NOT NULL,
    alarm TEXT NOT NULL,             -- the alarm's key, the same in all its transitions
    change TEXT NOT NULL,            -- raised | escalated | latched | acknowledged | …
    priority INTEGER NOT NULL,
    kind TEXT NOT NULL,
    source TEXT NOT NULL,
    text TEXT NOT NULL,
    operator TEXT NOT NULL,
    device TEXT,
    device_label TEXT
);
CREATE INDEX IF NOT EXISTS alarm_log_bed_time ON alarm_log (bed, time_ns);
"""

REPORT_FIELDS = (
    "bed",  # BedId.key after routing; null: unassigned
    "bed_label",
    "device",  # DeviceId.key
    "device_label",
    "receive_ns",
    "location",  # null, or [PV1-3 as sent, point of care, room, bed, facility]
    "patient_id",
    # [[code, label, value, unit, status, device_ns, sub_id, source_code, reason, demo], …]
    "observations",
    "waveforms",  # [[code, label, unit, rate_hz, start_ns, count, sub_id, source_code], …]
    "alarms",  # how many rows of the alarms table the report has
)
"""What ``messages.reports`` holds: a JSON array with one array per report, in the message's
order, of these fields (an observation's value is a number or a string; its status
'valid' | 'invalid' | 'questionable'; a time is UTC ns or null). The samples of every
waveform chunk, ``count`` each, follow the message's raw bytes in its bundle."""


def read_bundle(conn: sqlite3.Connection, holder: int, layout: int | None) -> bytes | None:
    """The compressed bundle a message's ``bundle_row`` names (a row of ``bundles`` for a
    row of layout 4), or None when there is none (pruned meanwhile, or a damaged file).
    The ids of both kinds never meet: a holder of layout 3 is a message of layout 3, the
    id of a bundle the first message of layout 4 of its commit, or negative."""
    if layout == LAYOUT:
        row = conn.execute("SELECT data FROM bundles WHERE id = ?", (holder,)).fetchone()
    else:
        row = conn.execute("SELECT bundle FROM messages WHERE id = ?", (holder,)).fetchone()
    return None if row is None else row[0]


_MESSAGE_COLUMNS = (
    "id, receive_ns, transport, peer, device, device_label, control_id, outcome, reason,"
    " raw_size, raw_crc, reports, bundle_row, bundle_offset, layout, bundle"
)
_MESSAGE_WIDTH = _MESSAGE_COLUMNS.count(",") + 1


def _plain_number(value: object) -> int | float:
    """numpy's scalars (an adapter's arithmetic) as JSON numbers; nothing else is stored."""
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    raise TypeError(f"a {type(value).__name__} is not a value the journal stores")


_encode_json = json.JSONEncoder(
    separators=(",", ":"), check_circular=False, default=_plain_number
).encode
"""ASCII-only JSON (a device's odd character is escaped, never a failed write)."""

"""The running gateway: the core, its listeners and its views under one asyncio TaskGroup.

Assembles what a configuration describes — ward state, router, hub, journal, MLLP
listeners — and runs it with the dashboard, headless until a signal, or (for ``demo``)
with a simulated ward talking to it over real loopback sockets. Start-up failures (a port
in use) reach the caller before anything is shown. The journal is opened first and closed
last (what is queued is written); the ward's last minutes are rebuilt from it before a
listener accepts anything, and the day of trends before them is back-filled beside the
listeners (:mod:`gateway.journal.backfill`), as is retention pruning. The alarm engine's timer runs
beside them too (:func:`keep_alarms`: condition delays, lost devices, the end of an audio
pause and the sound happen even when no message arrives), and its transitions are
journaled every second (:func:`keep_alarm_log`). It does no protocol work of its own.

One reader per ``[[serial]]`` port runs beside the listeners, and the MQTT ingest
(``[mqtt_ingest]``) when configured. A serial port absent at
start-up is not a start-up failure: its reader reports it and retries, as for a port lost
later (a USB adapter plugged in afterwards is read).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any, Literal

from adapters.hl7.listener import MllpListener
from adapters.intellivue.lan import IntellivueLan, MonitorAddress
from adapters.intellivue.rs232 import MibReader
from adapters.mqtt.ingest import MqttIngest
from adapters.serial.reader import SerialReader
from gateway.alarms.audio import AlarmSound
from gateway.alarms.engine import AlarmEngine
from gateway.alarms.settings import AlarmSettings
from gateway.app.bindings import LiveBindings
from gateway.app.terminal import watch_terminal
from gateway.clock import NS_PER_S, Clock, SystemClock, monotonic_of
from gateway.config.model import GatewayConfig
from gateway.domain import AlarmChange, AlarmSource, AlarmTransition, BedId, DeviceReport
from gateway.errors import AdapterError, ConfigError, JournalError
from gateway.hub import Hub
from gateway.journal.backfill import TrendBackfill, restore_bounds
from gateway.journal.client import Journal
from gateway.journal.reader import JournalReader, read_reports
from gateway.journal.records import StoredReport
from gateway.mqtt.credentials import brokers_of, credentials_for
from gateway.mqtt.publisher import Publisher
from gateway.mqtt.topics import GatewayTopics, default_level
from gateway.ward.routing import Router
from gateway.ward.state import WardState
from gateway.ward.trends import TREND_SPAN_S

log = logging.getLogger("gateway.service")  # the name its log lines have always carried


def build_hub(config: GatewayConfig, clock: Clock | None = None) -> Hub:
    clock = clock or SystemClock()
    ward = WardState(config.stale_timeout_s, config.lost_after_s)
    router = Router(config.bindings(), auto_beds=config.auto_beds, admission=config.admission)
    settings, problems = AlarmSettings.from_config(config)
    hub = Hub(ward, router, clock, alarms=AlarmEngine(settings, clock=clock))
    for problem in problems:
        hub.fault("config", problem)
    return hub


def build_listeners(config: GatewayConfig, hub: Hub) -> list[MllpListener]:
    return [
        MllpListener(
            hub,
            host=spec.host,
            port=spec.port,
            clock=hub.clock,
            max_connections=spec.max_connections,
            max_frame_bytes=spec.max_frame_bytes,
            idle_timeout_s=spec.idle_timeout_s,
            frame_deadline_s=spec.frame_deadline_s,
            quiet_after_s=spec.quiet_after_s,
            max_connections_per_peer=spec.max_connections_per_peer,
            allow=spec.allows if spec.allow else None,
            facility=config.name,
        )
        for spec in config.listeners
    ]


def build_serial_readers(config: GatewayConfig, hub: Hub) -> list[SerialReader]:
    """One reader per ``[[serial]]`` port; each keeps its port open (or retries) on its own."""
    return [
        SerialReader(
            hub,
            port=spec.port,
            kind=spec.kind,
            baud=spec.baud,
            parity=spec.parity,
            flow_control=spec.flow_control,
            clock=hub.clock,
            facility=config.name,
            silent_after_s=config.lost_after_s,
        )
        for spec in config.serial
    ]


def build_intellivue(
    config: GatewayConfig, hub: Hub
) -> tuple[list[IntellivueLan], list[MibReader]]:
    """The IntelliVue readers: one per listening address (the configured monitor addresses
    go with the first, or with one that only reads them), one per MIB serial port."""
    monitors = tuple(
        MonitorAddress(*spec.monitor) for spec in config.intellivue if spec.monitor is not None
    )
    waves = all(spec.waves for spec in config.intellivue if spec.port is None)
    lans = [
        IntellivueLan(hub, host=spec.listen[0], port=spec.listen[1], clock=hub.clock, waves=waves)
        for spec in config.intellivue
        if spec.listen is not None
    ]
    if monitors and lans:
        lans[0].configured = monitors
    elif monitors:
        lans.append(IntellivueLan(hub, host=None, monitors=monitors, clock=hub.clock, waves=waves))
    readers = [
        MibReader(hub, port=spec.port, clock=hub.clock, waves=spec.waves)
        for spec in config.intellivue
        if spec.port is not None
    ]
    return lans, readers


async def enter_intellivue(
    stack: contextlib.AsyncExitStack, lans: list[IntellivueLan], hub: Hub
) -> list[IntellivueLan]:
    """Bind each; one that cannot bind is a fault, never a stop: the HL7 and serial beds
    must stay watchable when the indication port is taken."""
    entered = []
    for lan in lans:
        try:
            entered.append(await stack.enter_async_context(lan))
        except AdapterError as exc:
            hub.fault(
                f"intellivue {lan.address}", f"{exc}; IntelliVue monitors are not found there"
            )
            continue
        if lan.host is not None:
            log.info("listening for IntelliVue monitors on UDP %s", lan.address)
    return entered


def build_publisher(config: GatewayConfig, hub: Hub) -> Publisher | None:
    """The MQTT publisher ``[mqtt]`` asks for. Credentials or TLS files that cannot be read
    are a fault, not a stop: the local ward must stay watchable without remote screens."""
    mqtt = config.mqtt
    if mqtt is None:
        return None
    try:
        credentials = credentials_for(mqtt)
    except ConfigError as error:
        for problem in error.problems:
            hub.fault("config", f"MQTT: not publishing: {problem}")
        return None
    topics = GatewayTopics(
        mqtt.topic_prefix,
        mqtt.site,
        mqtt.ward or default_level(config.name, "ward"),
        mqtt.gateway or default_level(socket.gethostname(), "gateway"),
    )
    return Publisher(
        hub,
        topics,
        brokers_of(mqtt),
        credentials,
        name=config.name,
        remote_acknowledge=mqtt.remote_acknowledge,
    )


def build_mqtt_ingest(config: GatewayConfig, hub: Hub) -> MqttIngest | None:
    """The MQTT ingest ``[mqtt_ingest]`` asks for. Credentials or TLS files that cannot be
    read are a fault, not a stop: the other beds must stay watchable."""
    ingest = config.mqtt_ingest
    if ingest is None:
        return None
    try:
        credentials = credentials_for(ingest)
    except ConfigError as error:
        for problem in error.problems:
            hub.fault("config", f"MQTT ingest: not reading devices: {problem}")
        return None
    return MqttIngest(
        hub,
        brokers_of(ingest),
        credentials,
        prefix=ingest.topic_prefix,
        topic_filter=ingest.topic_filter,
        clock=hub.clock,
        name=default_level(config.name, "ward"),
    )


REBUILD_WINDOW_H = 10 / 60
"""How far back a restart restores the ward from the journal before listeners open: each
sender's last reports of these minutes before the journal's last message (latest values,
stale with their true age, devices, patients — however long the gateway was stopped, as
far back as the trends' day), and those of them within these minutes of the restart whole
(the last :data:`gateway.journal.backfill.RESTORED_S`: values, waves, the alarm state).
Short, because monitors wait meanwhile: feeding all of 10 minutes of 64 beds with waves
(~77,000 reports) through the ward took 5.4–5.8 s on the 2-core development machine. The
trends before it are back-filled in the background while ingest runs, these minutes first
(:mod:`gateway.journal.backfill`)."""
TREND_BACKFILL_H = TREND_SPAN_S / 3600
"""How far back the trends are rebuilt: as far as they reach (24 h)."""
RETENTION_EVERY_S = 60.0
"""How often retention prunes (more often for a retention under ten minutes: a tenth of it)."""


async def open_journal(config: GatewayConfig, hub: Hub) -> Journal:
    """Start the journal and attach it to the hub. A journal that cannot be opened does not
    stop the gateway — the ward must stay watchable — but shows RECORDING FAILED, devices
    get negative ACKs (they keep their data), and every message retries the file."""
    journal = Journal(config.journal, clock=hub.clock)
    hub.journal = journal
    try:
        await journal.start()
    except JournalError as exc:
        hub.note_recording_failed(str(exc))
    else:
        log.info("journal: %s (retention %g h)", config.journal, config.retention_h)
    return journal


async def rebuild(
    hub: Hub, path: Path, *, window_h: float = REBUILD_WINDOW_H, now_ns: int | None = None
) -> int:
    """Restore the ward and the alarm state from the journal's last ``window_h`` hours
    before anything live arrives, oldest first, through the ward's normal paths: each
    sender's last reports of the ``window_h`` before the journal's last message
    (:meth:`Hub.recall`), then the last :data:`~gateway.journal.backfill.RESTORED_S` before
    the stop whole (:meth:`Hub.apply`; their waves from
    :data:`~gateway.journal.backfill.WAVES_S` on, what a wave buffer holds). Latest values
    come back stale with their true age, devices, patients, waves and the alarm state; the
    alarm history of the trends' day too. Returns how many reports were fed. The trends
    follow in the background (:func:`trend_backfill`).

    Stopped for longer than ``window_h`` (a laptop whose battery ran out), the gateway still
    shows, as soon as it listens, every bed whose monitor was sending in the minutes before
    the stop (as far back as the trends' day), with its last values and their true age; the
    alarm engine hears those reports as it does after a short stop, so a monitor that does
    not come back raises DEVICE LOST either way."""
    if not await asyncio.to_thread(path.is_file):
        return 0
    now = hub.clock.now_ns() if now_ns is None else now_ns
    window = round(window_h * 3600 * NS_PER_S)
    since = now - window
    day = now - round(TREND_BACKFILL_H * 3600 * NS_PER_S)
    count = 0
    try:
        restored, waves = await asyncio.to_thread(restore_bounds, path, since, now)
        end = await asyncio.to_thread(_journal_end, path, now)
        reach = since if end is None else max(day, min(since, end - window))
        history = await asyncio.to_thread(_alarm_history, path, min(day, since))
        hub.alarms.load_history(history)
        # The device alarms read with values only below (before the waves) are among these.
        still_open = await asyncio.to_thread(_open_device_alarms, path, history, waves)
        latest = await asyncio.to_thread(_latest_reports, path, reach, restored)
        # Alarms that ended before the restart are not latched or journaled again; those
        # still active afterwards are raised again, unacknowledged.
        known = hub.ward.bed_count()  # the configured beds, in the configuration's order
        with hub.alarms.restoring():
            for bed, label, report in still_open:
                seen = monotonic_of(hub.clock, report.receive_time_ns)
                hub.alarms.observe(bed, label, report, seen)
            hub.recall([stored.routed for stored in latest])
            count += len(latest)
            for begin, end, values_only in ((restored, waves, True), (waves, None, False)):
                async for batch in read_reports(
                    path, since_ns=begin, until_ns=end, values_only=values_only
                ):
                    hub.apply([stored.routed for stored in batch])
                    count += len(batch)
        hub.ward.order_by_label(known)  # the beds read back, in the order of their labels
    except JournalError as exc:
        hub.fault("journal", f"cannot rebuild the ward from the journal: {exc}")
    if count:
        log.info(
            "rebuilt the ward from %d reports of the %g min before the journal's last message",
            count,
            window_h * 60,
        )
    return count


def _journal_end(path: Path, until_ns: int) -> int | None:
    """When the journal's last message before ``until_ns`` was received (None: it has none)."""
    with JournalReader(path) as reader:
        span = reader.time_range(until_ns)
    return None if span is None else span[1]


def _latest_reports(path: Path, since_ns: int, until_ns: int) -> list[StoredReport]:
    with JournalReader(path) as reader:
        return reader.latest_reports(since_ns=since_ns, until_ns=until_ns)


def _alarm_history(path: Path, since_ns: int) -> list[AlarmTransition]:
    with JournalReader(path) as reader:
        return reader.alarm_log(ward=True, since_ns=since_ns)


_CLOSED = frozenset((AlarmChange.ENDED, AlarmChange.CLEARED, AlarmChange.LATCHED))


def _open_device_alarms(
    path: Path, history: list[AlarmTransition], until_ns: int
) -> list[tuple[BedId, str, DeviceReport]]:
    """The device alarm events, before ``until_ns``, of the devices whose alarms were
    still open when the gateway stopped (their last transition in ``history`` did not end
    them): a pump's occlusion ``start`` from an hour ago waits for its ``end``, and must be
    raised again after a restart even though it is older than the minutes rebuilt.
    Oldest first, each as a report of its own (alarms only), for the alarm engine."""
    last: dict[str, AlarmTransition] = {}
    for transition in history:
        last[transition.alarm] = transition
    devices: dict[tuple[BedId, str], str] = {}
    for transition in last.values():
        if (
            transition.source is AlarmSource.DEVICE
            and transition.change not in _CLOSED
            and transition.bed is not None
            and transition.device is not None
        ):
            devices[transition.bed, transition.device.key] = transition.bed_label
    if not devices:
        return []
    events: list[tuple[int, BedId, str, DeviceReport]] = []
    with JournalReader(path) as reader:
        for bed in {bed for bed, _ in devices}:
            # By the device's own time, which may be far off the gateway's: no lower bound
            # (what the journal still holds), and an event of the minutes rebuilt next may
            # come twice (the second changes nothing).
            for stored in reader.alarms(bed, until_ns=until_ns):
                event = stored.event
                label = devices.get((bed, event.device.key))
                if label is not None:
                    report = DeviceReport(
                        event.device, "journal", "", event.time_ns, alarms=(event,)
                    )
                    events.append((event.time_ns, bed, label, report))
    events.sort(key=lambda item: item[0])
    return [(bed, label, report) for _, bed, label, report in events]


ALARM_TICK_S = 0.25
"""The alarm timer's period: the precision of condition delays and lost-device timeouts."""
ALARM_LOG_EVERY_S = 1.0


async def keep_alarms(hub: Hub, sound: AlarmSound | None) -> None:
    """The alarm engine's timer: time-driven rules (and the hub's counted summaries and the
    watch on the wall clock: see :meth:`Hub.tick`), then what should sound (on the
    monotonic clock), headless or not."""
    engine = hub.alarms
    while True:
        now = hub.clock.monotonic_ns()
        hub.tick(now)
        if sound is not None:
            sound.step(now, engine.audible(now))
        await asyncio.sleep(ALARM_TICK_S)


FAULT_SUMMARY_EVERY_S = 1.0


async def keep_fault_summaries(hub: Hub) -> None:
    """Say the repeats of a fault storm that stopped when its window ends, even if no other
    fault or snapshot comes; when stopped, say what is still counted."""
    try:
        while True:
            await asyncio.sleep(FAULT_SUMMARY_EVERY_S)
            hub.summarise_faults()
    finally:
        hub.summarise_faults(everything=True)


async def keep_alarm_log(hub: Hub, journal: Journal) -> None:
    """Journal the alarm transitions every second (and what is left when stopped)."""
    failed: list[str] = []
    try:
        while True:
            await asyncio.sleep(ALARM_LOG_EVERY_S)
            await flush_alarm_log(hub, journal, failed)
    finally:
        await asyncio.shield(flush_alarm_log(hub, journal, failed))


async def flush_alarm_log(hub: Hub, journal: Journal, failed: list[str] | None = None) -> bool:
    """Write the alarm transitions waiting in the engine; True when they are on disk.
    When the journal cannot store them they are kept for the next try, and the reason is
    a fault (once while it lasts, when given ``failed`` to remember it)."""
    transitions = hub.alarms.take_transitions()
    if not transitions:
        return True
    try:
        await journal.record_alarm_log(transitions)
    except JournalError as exc:
        hub.alarms.return_transitions(transitions)
        reason = str(exc)
        if failed is None or reason not in failed:
            hub.fault("journal", f"alarm transitions not recorded (kept for a retry): {reason}")
            if failed is not None:
                failed[:] = [reason]
        return False
    if failed:
        failed.clear()
    return True


def trend_backfill(
    hub: Hub, path: Path, *, now_ns: int, window_h: float = REBUILD_WINDOW_H
) -> TrendBackfill:
    """The back-fill of the trends of the day before the minutes :func:`rebuild` restored
    after a restart at ``now_ns``: run it beside the listeners (``await …run()``)."""
    return TrendBackfill(
        hub,
        path,
        since_ns=now_ns - round(TREND_BACKFILL_H * 3600 * NS_PER_S),
        until_ns=now_ns - round(window_h * 3600 * NS_PER_S),
        now_ns=now_ns,
    )


def retention_horizon(
    clock: Clock, retention_h: float, last: tuple[int, int] | None
) -> tuple[int, int]:
    """``(before_ns, at_monotonic_ns)``: what to prune before, by the journal's wall times.
    ``last`` is the previous answer (None at start). The horizon moves forward no faster
    than monotonic time: a wall clock stepped forward (a wrong BIOS clock, years ahead) is
    never a reason to prune hours — or everything — at once; after a step forward the
    journal keeps that much more, until the next restart. A step back prunes nothing until
    the wall clock catches up."""
    now = clock.monotonic_ns()
    before = clock.now_ns() - round(retention_h * 3600 * NS_PER_S)
    if last is not None:
        last_before, last_now = last
        before = min(before, last_before + (now - last_now))
    return before, now


async def keep_retention(hub: Hub, journal: Journal, retention_h: float) -> None:
    """Prune what is older than the retention, now and every minute (a tenth of the
    retention when that is shorter), in small steps (see :func:`retention_horizon`)."""
    every_s = min(RETENTION_EVERY_S, retention_h * 3600 / 10)
    horizon: tuple[int, int] | None = None
    while True:
        horizon = retention_horizon(hub.clock, retention_h, horizon)
        before = horizon[0]
        try:
            removed = await journal.prune_before(before)
        except JournalError as exc:
            hub.fault("journal", f"retention pruning failed: {exc}")
        else:
            if removed:
                log.info("journal: pruned %d messages older than %g h", removed, retention_h)
        await asyncio.sleep(every_s)


# A companion runs beside the gateway (the demo's simulated ward); it is told the port of
# the first listener, which may have been chosen by the system.
Companion = Callable[[int], Coroutine[Any, Any, None]]


async def serve(
    config: GatewayConfig,
    *,
    dashboard: bool,
    markers: Sequence[str] = (),
    companion: Companion | None = None,
    hub: Hub | None = None,
    on_terminal_lost: Literal["detach", "stop"] = "detach",
    config_path: Path | None = None,
) -> None:
    """Run until the dashboard quits (``q``) or, headless, until SIGINT/SIGTERM.

    When the dashboard's terminal is lost (:mod:`gateway.app.terminal`) the dashboard closes
    and, with ``on_terminal_lost="detach"``, the gateway carries on headless until
    SIGINT/SIGTERM: the ward is still received and journaled. The demo stops instead.

    Beds changed on the running gateway (:mod:`gateway.app.bindings`) are read from the
    bindings overlay at start; headless (and once the dashboard detached), SIGHUP reloads
    the beds, admissions and alarm limits of ``config_path`` and of the overlay. With a
    dashboard, SIGHUP keeps meaning that its terminal hung up; the devices screen reloads
    instead (``R``). Headless, a SIGHUP that comes while the gateway is still starting
    (rebuilding the ward from a long journal takes seconds, and ``systemctl reload`` may
    come meanwhile) is kept and carried out once it listens: it never ends the process, as
    the signal's default would."""
    hub = hub or build_hub(config)
    beds = LiveBindings(hub, config, config_path)
    beds.start()
    early_hangups: list[None] = []
    if not dashboard:
        asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, early_hangups.append, None)
    async with contextlib.AsyncExitStack() as stack:
        journal = hub.journal
        backfill: TrendBackfill | None = None
        if journal is None:
            journal = await open_journal(config, hub)
            stack.push_async_callback(journal.close)  # last out: what is queued is written
            restarted_ns = hub.clock.now_ns()
            await rebuild(hub, config.journal, now_ns=restarted_ns)
            hub.watch_moves()  # a device bound elsewhere since leaves its rebuilt bed
            backfill = trend_backfill(hub, config.journal, now_ns=restarted_ns)
        listeners = [await stack.enter_async_context(lis) for lis in build_listeners(config, hub)]
        for listener in listeners:
            log.info("listening for HL7/MLLP on %s", listener.address)
        philips, mib_readers = build_intellivue(config, hub)
        philips = await enter_intellivue(stack, philips, hub)
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(listener.serve_forever()) for listener in listeners]
            for reader in build_serial_readers(config, hub):  # a missing port retries, not fails
                tasks.append(group.create_task(reader.run(), name=f"serial {reader.port}"))
            tasks += [group.create_task(lan.serve_forever()) for lan in philips]
            for mib_reader in mib_readers:
                tasks.append(
                    group.create_task(mib_reader.run(), name=f"intellivue {mib_reader.port}")
                )
            tasks.append(group.create_task(keep_retention(hub, journal, config.retention_h)))
            if backfill is not None:
                tasks.append(group.create_task(backfill.run()))
            sound = build_sound(config, hub, dashboard=dashboard)
            tasks.append(group.create_task(keep_alarms(hub, sound)))
            tasks.append(group.create_task(keep_fault_summaries(hub)))
            tasks.append(group.create_task(keep_alarm_log(hub, journal)))
            ingest = build_mqtt_ingest(config, hub)
            if ingest is not None:  # a lost broker is a fault and a retry, never a stop
                tasks.append(group.create_task(ingest.run(), name="mqtt ingest"))
            publisher = build_publisher(config, hub)
            if publisher is not None:
                tasks.append(group.create_task(publisher.run(), name="mqtt publisher"))
            if companion is not None and listeners:
                tasks.append(group.create_task(companion(listeners[0].port)))
            try:
                if dashboard:
                    from tui.app import WardApp

                    app = WardApp(
                        hub.snapshot,
                        traces=hub.ward,  # trends and waves of the bed shown, read on demand
                        title=config.name,
                        markers=(*markers, *sound_markers(config)),
                        refresh_hz=config.dashboard.refresh_hz,
                        columns=config.dashboard.columns,
                        alarms=hub.alarms,  # acknowledge, pause; asks who is at the screen
                        beds=beds,  # bind a device, rename a bed, reload (devices screen)
                        freeze_startup_objects=True,  # no full GC pass over startup objects
                    )
                    if sound is not None:
                        sound.bell = app.bell
                    lost: list[str] = []

                    def terminal_lost(reason: str) -> None:
                        lost.append(reason)
                        going = "stopping" if on_terminal_lost == "stop" else "carrying on"
                        hub.fault(
                            "dashboard",
                            f"{reason}: the dashboard is closed; {going} without it"
                            + ("" if on_terminal_lost == "stop" else " (ingest and journal)"),
                        )
                        if sound is not None:
                            sound.bell = None  # no terminal to ring: said in the log
                        app.exit()

                    watcher = group.create_task(watch_terminal(terminal_lost))
                    tasks.append(watcher)
                    await app.run_async()
                    if lost and on_terminal_lost == "detach":
                        hub.alarms.sign_in("unknown")  # nobody at a screen any more
                        await _until_signalled(beds.reload)
                else:
                    hub.alarms.sign_in("unknown")  # nobody at a screen
                    await _until_signalled(beds.reload, hung_up_before=bool(early_hangups))
            finally:
                for task in tasks:
                    task.cancel()
                if sound is not None:
                    await sound.aclose()
    log.info("stopped")


def sound_markers(config: GatewayConfig) -> tuple[str, ...]:
    """Header badges that say the alarms make no sound here."""
    if config.dashboard.mute:
        return ("MUTED",)
    return ("AUDIO OFF",) if config.alarms.audio == "off" else ()


def build_sound(config: GatewayConfig, hub: Hub, *, dashboard: bool) -> AlarmSound | None:
    """The alarm sound the configuration asks for; its failures are the hub's faults. None
    (and a fault) for the bell without a dashboard: there is no terminal to ring."""
    audio = config.alarms
    if audio.audio == "bell" and not dashboard and not config.dashboard.mute:
        hub.fault(
            "config",
            'audio = "bell" rings the dashboard\'s terminal; headless nothing sounds:'
            ' set audio = "command"',
        )
        return None
    sound = AlarmSound(audio.audio, audio.audio_command, muted=config.dashboard.mute)
    sound.on_fault = hub.fault
    return sound


async def _until_signalled(
    reload: Callable[[str], Coroutine[Any, Any, bool]] | None = None,
    *,
    hung_up_before: bool = False,
) -> None:
    """Wait for SIGINT/SIGTERM; meanwhile each SIGHUP calls ``reload`` (a service's
    "read the configuration again": no connection is dropped). ``hung_up_before``: a SIGHUP
    came while starting; it is carried out now, once."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    reloads: set[asyncio.Task[bool]] = set()

    def hung_up() -> None:
        assert reload is not None
        log.info("SIGHUP: reloading the beds, admissions and alarm limits of the configuration")
        task = loop.create_task(reload("signal SIGHUP"))
        reloads.add(task)
        task.add_done_callback(reloads.discard)

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    if reload is not None:
        loop.add_signal_handler(signal.SIGHUP, hung_up)
        if hung_up_before:
            log.info("SIGHUP came while starting: reloading now")
            hung_up()
    try:
        await stop.wait()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        if reload is not None:
            loop.remove_signal_handler(signal.SIGHUP)
        for task in reloads:
            task.cancel()

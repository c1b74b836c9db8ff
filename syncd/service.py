"""``syncd serve``: the receiver (waitress), the processor, the delivery workers and the
periodic reconcile in one process. SIGTERM/SIGINT stop taking requests, let every worker
finish the step in flight, and exit; SIGHUP reloads the config and the rules
(``syncd.reload``). A port already in use is one line and exit status 2.
"""
from __future__ import annotations

import errno
import os
import signal
import sys
import threading
from dataclasses import dataclass, field
from typing import Any, Callable

import waitress

from syncd import logs
from syncd.store import categories
from syncd.discourse import directory
from syncd.inbox import secret as secrets_
from syncd.store import similar
from syncd.inbox.http import Receiver, create_app
from syncd.inbox.writer import IngestPressure, IngestWriter
from syncd.config import Settings, describe
from syncd.errors import SyncdError
from syncd.processor import Processor
from syncd.store.db import Store, transaction

log = logs.get("syncd.service")
IDLE_SECONDS = 1.0
RULES_POLL_SECONDS = 2.0


def run_loop(worker: Any, stop: threading.Event, wake: threading.Event | None = None,
             idle: float = IDLE_SECONDS) -> None:
    """Call ``worker.run_once()`` until ``stop``; sleep (or wait for ``wake``) when idle."""
    name = getattr(worker, "name", type(worker).__name__)
    while not stop.is_set():
        try:
            busy = worker.run_once()
        except Exception as exc:  # keep the worker alive; the error is in the log
            log.exception("worker_step_failed", worker=name, error=str(exc))
            busy = False
        if not busy:
            if wake is not None and wake is not stop:
                wake.wait(idle)
                wake.clear()
            else:
                stop.wait(idle)
    close = getattr(worker, "close", None)
    if close is not None:
        try:
            close()
        except Exception as exc:  # stopping must not fail on a worker's clean-up
            log.warning("worker_close_failed", worker=name, error=str(exc))
    log.info("worker_stopped", worker=name)


@dataclass
class Service:
    settings: Settings
    store: Store
    stop: threading.Event = field(default_factory=threading.Event)
    threads: list[threading.Thread] = field(default_factory=list)
    rules: Any = None
    server: Any = None
    workers: list = field(default_factory=list)

    def start_workers(self, wake: threading.Event, pressure: Any = None) -> Processor:
        processor = Processor(self.settings, self.store, self.rules, similar, pressure)
        processor.outbox_wake = threading.Event()
        processor.enrich = _editor_lookup(self.settings)
        self._spawn(processor, wake)
        for worker in _delivery_workers(self.settings, self.store):
            if pressure is not None:   # they too yield to a burst of deliveries (issue 17)
                worker = _Yielding(worker, pressure)
            self._spawn(worker, processor.outbox_wake)
        reconcile = _reconcile_worker(self.settings, self.store, processor)
        if reconcile is not None:
            self._spawn(reconcile)
        if self.rules is not None:
            self._spawn(_RulesWatcher(self.rules), idle=RULES_POLL_SECONDS)
        from syncd.timers.scheduler import POLL_SECONDS, GaugeWorker, Scheduler
        self._spawn(Scheduler(self.settings, self.store, processor), idle=POLL_SECONDS)
        self._spawn(GaugeWorker(self.settings, self.store), idle=5.0)
        return processor

    def _spawn(self, worker: Any, wake: threading.Event | None = None,
               idle: float = IDLE_SECONDS) -> None:
        self.workers.append(worker)
        thread = threading.Thread(target=run_loop, args=(worker, self.stop, wake, idle),
                                  name=getattr(worker, "name", "worker"), daemon=True)
        thread.start()
        self.threads.append(thread)

    def shutdown(self, *_: Any) -> None:
        if self.stop.is_set():
            return
        log.info("shutting_down")
        self.stop.set()

    def on_signal(self, signum: int, _frame: Any) -> None:
        """SIGTERM/SIGINT: stop the workers, then end waitress's loop the way it expects
        (its ``run`` shuts the request threads down on KeyboardInterrupt)."""
        self.shutdown()
        raise KeyboardInterrupt(f"signal {signum}")

    def join(self, timeout: float = 30.0) -> None:
        for thread in self.threads:
            thread.join(timeout)


class _Yielding:
    """A worker that lets the receiver answer first: each step waits while a delivery is
    being received (``IngestPressure``, ``max_defer`` at most), then runs at full speed."""

    def __init__(self, worker: Any, pressure: Any):
        self.worker, self.pressure = worker, pressure
        self.name = getattr(worker, "name", type(worker).__name__)

    def run_once(self) -> bool:
        self.pressure.wait_for_quiet(lambda: 0)
        return self.worker.run_once()

    def __getattr__(self, attr: str) -> Any:   # close() and the rest: the worker's own
        return getattr(self.worker, attr)


class _RulesWatcher:
    """Reloads the rules when a rules file changes (a bad file keeps the old rules)."""

    name = "rules-watcher"

    def __init__(self, holder: Any):
        self.holder = holder

    def run_once(self) -> bool:
        if self.holder.changed():
            self.holder.reload()
        return False


def _delivery_workers(settings: Settings, store: Store) -> list:
    from syncd.outbox.workers import make_workers
    return make_workers(settings, store)


def _editor_lookup(settings: Settings):
    """Who edited a topic, asked before a delivery's transaction (discourse/editor.py)."""
    from syncd.discourse.editor import lookup_for
    return lookup_for(settings)


def _reconcile_worker(settings: Settings, store: Store, processor: Processor):
    try:
        from syncd.discourse.reconcile import make_worker
    except ImportError:
        return None
    return make_worker(settings, store, processor)


def load_rules_holder(settings: Settings, store: Store):
    from syncd.rules.reloader import RulesHolder
    cats = categories.load(store.db().conn, settings.discourse.category_map)
    holder = RulesHolder(settings.resolve(settings.rules), list(settings.channels),
                         dict(cats.by_slug))
    return holder


def prepare(settings: Settings) -> tuple[Store, str]:
    """Open the database, seed categories from config, resolve the webhook secret."""
    store = Store(settings.resolve(settings.database), settings.database_synchronous)
    db = store.db()
    with transaction(db) as conn:
        categories.remember(conn, settings.discourse.category_map, "config")
    secret, generated = secrets_.resolve(settings, db)
    if generated:
        announce_secret(secret, settings)
    return store, secret


def announce_secret(secret: str, settings: Settings, streams: tuple = ()) -> None:
    """Show a generated secret on the terminal only: never in a log that is not one
    (journald, docker logs, a file), where anyone who reads logs would have it."""
    terminal = next((s for s in streams or (sys.stderr, sys.stdout)
                     if getattr(s, "isatty", lambda: False)()), None)
    if terminal is not None:
        print(secrets_.announcement(secret, settings), file=terminal, flush=True)
        return
    log.warning("webhook_secret_generated",
                hint="syncd generated a webhook secret and stored it in the database; run "
                     "'syncd secret show' on this machine to see it and paste it into "
                     "Discourse (Admin → API → Webhooks), or set DISCOURSE_WEBHOOK_SECRET")


def serve(settings: Settings, on_ready: Callable[[], None] | None = None) -> int:
    from syncd import reload as reloading
    from syncd.inbox.secret import SecretKeeper
    from syncd.store.backups import BackupWorker
    os.umask(0o077)   # the database, its WAL and backups hold the webhook secret
    store, secret = prepare(settings)
    service = Service(settings, store)
    service.rules = load_rules_holder(settings, store)
    wake = threading.Event()
    writer, pressure = IngestWriter(store), IngestPressure()
    backups = BackupWorker(settings, store)
    reloader = reloading.ConfigReloader(
        settings, service.rules,
        apply=lambda new, changed: reloading.apply(service, receiver, new, changed))
    receiver = Receiver(settings, store, secret, wake, writer=writer, pressure=pressure,
                        rules_count=lambda: len(service.rules.current) if service.rules.current else 0,
                        delivery_health=_delivery_health(),
                        admin_state=lambda: reloading.merged_state(reloader, backups),
                        secrets=SecretKeeper(settings, store))
    app = create_app(receiver)
    server = _bind(app, settings, receiver)     # before anything starts: a busy port is one line
    receiver.connections = lambda: len(getattr(server, "active_channels", ()))
    for line in describe(settings):
        log.info("config", detail=line)
    for warning in list(settings.warnings) + list(getattr(service.rules.current, "warnings", ())):
        log.warning("config_warning", detail=warning)
    reloading.remember_running(store, reloader.base)
    receiver.outbox_wake = service.start_workers(wake, pressure).outbox_wake
    service._spawn(reloader, idle=RULES_POLL_SECONDS)
    service._spawn(backups, idle=30.0)
    threading.Thread(target=_refresh_directory, args=(settings, store, service.rules),
                     name="directory", daemon=True).start()
    service.server = server
    signal.signal(signal.SIGTERM, service.on_signal)
    signal.signal(signal.SIGINT, service.on_signal)
    if hasattr(signal, "SIGHUP"):
        signal.signal(signal.SIGHUP, reloader.request)
    log.info("listening", host=settings.server.host, port=server.effective_port,
             rules=len(service.rules.current) if service.rules.current else 0)
    if on_ready:
        on_ready()
    try:
        server.run()
    except KeyboardInterrupt:  # a signal arriving outside waitress's loop
        pass
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    service.shutdown()
    server.close()
    writer.close()
    service.join()
    log.info("stopped")
    return 0


def _bind(app: Any, settings: Settings, receiver: Any = None) -> Any:
    """The listening server, or one clear ``SyncdError`` (exit 2) when the port is taken.
    With a receiver (and ``server.ingest_in_loop``), deliveries are served in waitress's
    event loop (``inbox/loop.py``)."""
    host, port = settings.server.host, settings.server.port
    dispatcher = None
    if receiver is not None and receiver.writer is not None and settings.server.ingest_in_loop:
        from syncd.inbox.loop import LoopDispatcher
        dispatcher = LoopDispatcher(receiver)
        dispatcher.set_thread_count(settings.server.threads)
    try:
        server = waitress.create_server(app, host=host, port=port,
                                        threads=settings.server.threads, ident="syncd",
                                        connection_limit=settings.server.connection_limit,
                                        channel_timeout=settings.server.channel_timeout,
                                        _dispatcher=dispatcher)
    except OSError as exc:
        if dispatcher is not None:
            dispatcher.shutdown()
        if exc.errno == errno.EADDRINUSE:
            raise SyncdError(f"port {port} on {host} is already in use (another syncd serve, "
                             "or another program): stop it, or start this one with --port N "
                             "or another server.port") from None
        if exc.errno == errno.EACCES:
            raise SyncdError(f"no permission to listen on port {port}: ports below 1024 need "
                             "privileges; use a port above 1024 behind the proxy") from None
        raise SyncdError(f"cannot listen on {host}:{port}: {exc.strerror or exc} (check "
                         "server.host and server.port)") from None
    if dispatcher is not None:
        from syncd.inbox.loop import usable
        reason = usable(server)
        if reason is None:
            dispatcher.attach(server)
        else:
            log.warning("ingest_in_loop_unavailable", reason=reason)
    return server


def _refresh_directory(settings: Settings, store: Store, holder: Any) -> None:
    """Learn categories and staff from Discourse, then let the rules see new slugs."""
    directory.refresh(settings, store)
    if not settings.discourse.dry_run:
        cats = categories.load(store.db().conn, settings.discourse.category_map)
        holder.reload(categories=dict(cats.by_slug))


def _delivery_health():
    try:
        from syncd.outbox.workers import health
    except ImportError:
        return None
    return health

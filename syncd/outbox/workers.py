"""Delivery workers: take one action from the outbox and carry it out.

``DeliveryWorker.run_once(now=None) -> bool`` is one step (``syncd serve`` calls it in a
thread loop; tests call it and drive ``now``): claim a leased action, send it to its
destination, and finish it: ``sent``, ``dry_run``, back to ``pending`` after a backoff
(transient failure), or ``dead`` with the reason (permanent failure).

Retries come in two layers: tenacity retries a transient failure a couple of times within
the step (short waits, or a short ``Retry-After``); the outbox retries across hours.
Without a Discourse URL, or for a channel without URL, the action is rendered and logged
and marked ``dry_run``.
"""
from __future__ import annotations

import sqlite3
import time
from datetime import datetime
from typing import Any, Callable, Mapping

import structlog
from tenacity import Retrying, retry_if_exception, stop_after_attempt

from syncd import logs, metrics
from syncd.store import echoes
from syncd.store import intakes
from syncd.outbox import queue as outbox
from syncd.outbox import subscribers
from syncd.clock import iso, parse, utcnow
from syncd.config import Settings
from syncd.errors import LeaseLost, PermanentError, TransientError
from syncd.outbox.queue import Action
from syncd.store.db import Store, rows, transaction

log = logs.get("syncd.delivery")
DISCOURSE_KINDS = frozenset({"reply", "message_author", "suggest_similar", "set_visibility",
                             "move_to_category", "add_tags", "remove_tags", "close_topic",
                             "promote_faq", "assign", "unassign", intakes.ACTION_KIND})
INLINE_ATTEMPTS = 3
INLINE_MAX_WAIT = 2.0          # a longer Retry-After goes back to the outbox
INLINE_BASE_WAIT = 0.25
BROKEN_STATUSES = (401, 403, 404, 410)  # the destination itself refuses: /healthz says so
# A Discourse 404/410 is about one topic (deleted, or made a message we cannot see), not
# about Discourse: the action is dead with the reason, the site is not "failing".
DISCOURSE_BROKEN = (401, 403)


def _inline_retry(exc: BaseException) -> bool:
    return isinstance(exc, TransientError) and (exc.retry_after or 0) <= INLINE_MAX_WAIT


def _inline_wait(state: Any) -> float:
    exc = state.outcome.exception() if state.outcome else None
    asked = getattr(exc, "retry_after", None) or 0.0
    return max(asked, INLINE_BASE_WAIT * 2 ** (state.attempt_number - 1))


class DeliveryWorker:
    """One worker; several share the gateway, the notifiers and their token buckets."""

    def __init__(self, settings: Settings, store: Store, gateway: Any = None,
                 notifiers: Mapping[str, Any] | None = None, name: str = "delivery-1",
                 sleep: Callable[[float], None] = time.sleep,
                 inline_attempts: int = INLINE_ATTEMPTS,
                 health_state: dict[str, bool] | None = None, alerts: Any = None):
        self.settings, self.store, self.name = settings, store, name
        self.gateway = gateway
        self.notifiers = dict(notifiers or {})
        self.sleep, self.inline_attempts = sleep, inline_attempts
        self._health = health_state if health_state is not None else {}
        self.alerts = alerts or subscribers.SubscriberAlerts(settings, gateway)

    def run_once(self, now: datetime | None = None) -> bool:
        """Deliver one due action. False: nothing was due."""
        db = self.store.db()
        action = outbox.claim(db, self.name, now, self.settings.outbox.lease_seconds)
        if action is None:
            return False
        structlog.contextvars.bind_contextvars(action_id=action.id, attempt=action.attempts,
                                               ticket=action.ticket_id, kind=action.kind)
        try:
            self._handle(db, action, now)
        finally:
            structlog.contextvars.unbind_contextvars("action_id", "attempt", "ticket", "kind")
        return True

    # --- one action ----------------------------------------------------------------------

    def _handle(self, db, action: Action, now: datetime | None) -> None:
        started = time.perf_counter()
        dest = destination(action)
        try:
            status, result = self._with_retries(db, action)
        except LeaseLost as exc:  # another worker carries on; nothing more is ours to do
            log.warning("action_lease_lost", destination=dest, error=str(exc))
            return
        except PermanentError as exc:
            outbox.dead(db, action, str(exc), now)
            self._record_health(db, dest, action, exc)
            self._count(action, "dead", started)
            log.warning("action_dead", destination=dest, error=str(exc))
            return
        except Exception as exc:
            if not _transient(exc):  # a bug or bad data: trying again gives the same answer
                reason = f"internal error, not retried: {type(exc).__name__}: {exc}"
                log.exception("action_failed_unexpectedly", destination=dest, error=reason)
                outbox.dead(db, action, reason[:2000], now)
                self._count(action, "dead", started)
                return
            error = str(exc) if isinstance(exc, TransientError) else f"internal error: {exc!r}"
            o = self.settings.outbox
            state = outbox.retry_later(db, action, error, now, getattr(exc, "retry_after", None),
                                       o.max_attempts, o.max_backoff_seconds)
            self._count(action, "dead" if state == "dead" else "retry", started)
            log.info("action_retry_later", destination=dest, error=error, status=state)
            return
        finish = outbox.complete if status == "sent" else outbox.dry_run
        if not finish(db, action, result, now):
            log.warning("action_lease_lost", destination=dest)  # another worker took it over
        if status == "sent":
            self._record_health(db, dest, action, None)
        self._count(action, status, started)
        self._observe_latency(db, action)
        log.info("action_" + status, destination=dest)

    def _with_retries(self, db, action: Action) -> tuple[str, Any]:
        retryer = Retrying(retry=retry_if_exception(_inline_retry),
                           stop=stop_after_attempt(max(1, self.inline_attempts)),
                           wait=_inline_wait, sleep=self.sleep, reraise=True)
        for attempt in retryer:
            with attempt:
                retrying = action.tried_before or attempt.retry_state.attempt_number > 1
                return self.deliver(db, action, retrying)
        raise AssertionError("unreachable")  # pragma: no cover

    def deliver(self, db, action: Action, retrying: bool = False) -> tuple[str, Any]:
        """Send one action: ``("sent" | "dry_run", result)``, or raise."""
        if subscribers.handles(action):   # notify: subscribers, and each person's alert
            return self.alerts.deliver(db, action, retrying)
        if action.kind == "notify":
            return self._notify(action)
        if action.kind not in DISCOURSE_KINDS:
            raise PermanentError(f"unknown action kind '{action.kind}'")
        if _ticket_deleted(db, action.ticket_id):
            log.info("discourse_action_skipped", reason="the ticket's topic was deleted")
            return "sent", {"skipped": "the ticket's topic was deleted"}
        if self.settings.discourse.dry_run or self.gateway is None:
            log.info("dry_run_discourse_action", params=_loggable(action.params))
            return "dry_run", {"would": action.kind, "params": action.params}
        previous = self.gateway.keep_lease(lambda: self._renew(db, action))
        try:
            result = self.gateway.perform(action, self._expecter(db, action.ticket_id),
                                          retrying, _ticket_category(db, action.ticket_id))
            intakes.record_sent(db, action.kind, result)   # the topic an intake became
            return "sent", result
        finally:
            self.gateway.keep_lease(previous)

    def _renew(self, db, action: Action) -> None:
        if not outbox.renew(db, action, self.settings.outbox.lease_seconds):
            raise LeaseLost(f"action {action.id}: another worker took it over")

    def _notify(self, action: Action) -> tuple[str, Any]:
        name = action.params.get("channel")
        channel = self.settings.channels.get(name)
        notifier = self.notifiers.get(name)
        if channel is None or notifier is None:
            raise PermanentError(f"no channel named '{name}' in the config "
                                 f"(channels: {', '.join(self.settings.channels) or 'none'})")
        if channel.dry_run:
            message = notifier.render(action)
            log.info("dry_run_notification", channel=name, message=message)
            return "dry_run", {"channel": name, "message": message}
        from syncd.channels import deliver
        return "sent", deliver(notifier, action)

    def _expecter(self, db, ticket_id: int) -> Callable[[str, Any], None]:
        """Record an expected webhook echo, committed before the change is made."""
        def expect(kind: str, value: Any) -> None:
            with transaction(db) as conn:
                there = conn.execute("SELECT 1 FROM echoes WHERE ticket_id = ? AND kind = ? AND "
                                     "value = ? AND expires_at > ?",
                                     (ticket_id, kind, str(value), iso())).fetchone()
                if not there:
                    echoes.expect(conn, ticket_id, kind, value)
        return expect

    # --- bookkeeping ---------------------------------------------------------------------

    def _record_health(self, db, dest: str, action: Action, exc: Exception | None) -> None:
        if dest.startswith("person:"):  # a person's own webhook: shown on their /me, not /healthz
            return
        status = getattr(exc, "status", None)
        broken = DISCOURSE_BROKEN if dest == "discourse" else BROKEN_STATUSES
        if exc is not None and status not in broken:
            return
        ok = exc is None
        if self._health.get(dest) is ok:
            return
        at = iso()
        with transaction(db) as conn:
            conn.execute(
                "INSERT INTO destination_health (name, ok, http_status, last_error, action_id, "
                "since, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(name) DO UPDATE SET "
                "since = CASE WHEN ok = excluded.ok THEN since ELSE excluded.since END, "
                "ok = excluded.ok, http_status = excluded.http_status, "
                "last_error = excluded.last_error, action_id = excluded.action_id, "
                "updated_at = excluded.updated_at",
                (dest, int(ok), status, None if ok else str(exc), action.id, at, at))
        self._health[dest] = ok

    def _count(self, action: Action, result: str, started: float) -> None:
        metrics.ACTIONS.labels(action.kind, result).inc()
        metrics.SEND_SECONDS.labels(action.kind).observe(time.perf_counter() - started)

    def _observe_latency(self, db, action: Action) -> None:
        row = db.conn.execute("SELECT received_at FROM deliveries WHERE id = ?",
                              (action.delivery_id,)).fetchone() if action.delivery_id else None
        since = parse(row[0] if row else action.created_at)
        metrics.EVENT_TO_SEND_SECONDS.labels(action.kind).observe(
            max(0.0, (utcnow() - since).total_seconds()))


def _transient(exc: Exception) -> bool:
    """Worth another attempt later: the destination's transient failures, and a database
    that is locked or full for a moment. Anything else (a bug, data the sender cannot
    format) would fail the same way every time: the action goes to ``dead``."""
    return isinstance(exc, (TransientError, sqlite3.OperationalError))


def destination(action: Action) -> str:
    """Where an action goes: its channel's name, or ``discourse``."""
    if subscribers.handles(action):
        return subscribers.destination(action)
    return str(action.params.get("channel")) if action.kind == "notify" else "discourse"


def _ticket_deleted(db, ticket_id: int) -> bool:
    row = db.conn.execute("SELECT deleted FROM tickets WHERE id = ?", (ticket_id,)).fetchone()
    return bool(row and row[0])


def _ticket_category(db, ticket_id: int) -> int | None:
    row = db.conn.execute("SELECT category_id FROM tickets WHERE id = ?", (ticket_id,)).fetchone()
    return row[0] if row else None


def _loggable(params: dict[str, Any]) -> dict[str, Any]:
    return {k: (v[:200] + "…" if isinstance(v, str) and len(v) > 200 else v)
            for k, v in params.items()}


def health(conn) -> dict[str, Any]:
    """For ``/healthz``: destinations that refuse us for good, and the outbox by status."""
    failing = rows(conn, "SELECT name AS channel, http_status, last_error AS error, since, "
                   "action_id FROM destination_health WHERE ok = 0 ORDER BY name")
    counts = outbox.counts(conn)
    return {"failing_channels": failing,
            "outbox": {**counts["by_status"], "oldest_undelivered_at": counts["oldest_undelivered_at"]}}


def make_workers(settings: Settings, store: Store) -> list[DeliveryWorker]:
    """``outbox.workers`` workers sharing one gateway, one notifier a channel, their buckets."""
    from syncd.discourse.gateway import DiscourseGateway
    from syncd.channels import notifier_for
    gateway = None if settings.discourse.dry_run else DiscourseGateway(settings, store=store)
    notifiers = {name: notifier_for(ch, settings) for name, ch in settings.channels.items()}
    from syncd.store.refs import ChannelMemory
    for name, notifier in notifiers.items():  # what a channel keeps per ticket (Slack, Trello)
        if hasattr(notifier, "attach"):
            notifier.attach(ChannelMemory(store, name))
    shared: dict[str, bool] = {}
    alerts = subscribers.SubscriberAlerts(settings, gateway)
    return [DeliveryWorker(settings, store, gateway, notifiers, name=f"delivery-{i + 1}",
                           health_state=shared, alerts=alerts)
            for i in range(settings.outbox.workers)]

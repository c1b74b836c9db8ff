"""Discourse's deliveries served in waitress's event loop, committed together.

Waitress reads requests in one thread (its event loop) and hands each to a pool of request
threads. For ``POST /webhooks/discourse`` that hand-over is most of the cost on a small
machine: the request threads, the loop and the committer take turns on the GIL, and each
turn is a context switch (issue 17 measured 19 a delivery, against 8 for an empty Flask
endpoint). ``LoopDispatcher`` is waitress's task dispatcher with one change: a completed
delivery request is kept for the loop itself, which, once the requests that arrived
together are read, serves them in three steps:

1. each delivery is verified, parsed and checked for relevance (``hotpath.admit``), with
   the environ waitress's own task would build;
2. those to store are stored with one commit (``IngestWriter.store_batch``: one multi-row
   ``INSERT``, one fsync), each failing alone if it fails;
3. each request is then served by waitress as usual (``channel.service()``), its WSGI
   call answering with what steps 1 and 2 decided (``hotpath.PREPARED``).

So a 202 is still written only after its commit, answers on a connection keep their order
(waitress gives a connection one task at a time), and every other request (``/healthz``,
the web page, Teams) goes to the request threads unchanged. Waitress sends the answers on
the loop's next turn. The loop is busy for the commit (about 0.2 ms with
``synchronous=full`` on an SSD); deliveries arriving meanwhile are read on the next turn
and share the next commit.

``server.ingest_in_loop: false`` serves deliveries in the request threads instead.
"""
from __future__ import annotations

import threading
import time
from collections import deque
from typing import Any

from waitress.task import ThreadedTaskDispatcher

from syncd import logs
from syncd.inbox import hotpath

log = logs.get("syncd.ingest")


def usable(server: Any) -> str | None:
    """Why this waitress cannot serve deliveries in its loop, or None when it can (the
    parts of waitress 3 ``LoopDispatcher`` relies on)."""
    from waitress import trigger
    from waitress.channel import HTTPChannel
    missing = [name for name in ("service", "task_class") if not hasattr(HTTPChannel, name)]
    if not hasattr(trigger, "trigger") or not isinstance(getattr(server, "_map", None), dict):
        missing.append("trigger")
    if missing:
        return (f"this waitress has no {', '.join(missing)}: deliveries are served in the "
                "request threads")
    return None


def _waker(socket_map: dict, serve: Any) -> Any:
    """A pipe in the loop's socket map whose reading runs ``serve``.

    Not waitress's own trigger: that one runs its thunks under a bare ``except:``, which
    would swallow the KeyboardInterrupt ``serve``'s SIGTERM handler raises to end the loop
    (and the step would never be scheduled again). Here whatever ``serve`` raises reaches
    the loop, which lets KeyboardInterrupt and SystemExit through."""
    from waitress.trigger import trigger

    class Waker(trigger):
        def handle_read(self) -> None:
            try:
                self.recv(8192)
            except OSError:
                return
            serve()

        def pull(self) -> None:
            self._physical_pull()

    return Waker(socket_map)


class LoopDispatcher(ThreadedTaskDispatcher):
    """Waitress's request-thread pool, except that deliveries stay in the event loop."""

    def __init__(self, receiver: Any, path: str = hotpath.PATH):
        super().__init__()
        self.receiver, self.path = receiver, path
        self.server: Any = None          # set by ``attach`` once waitress made the server
        self._wake: Any = None
        self._ready: deque[Any] = deque()
        self._lock = threading.Lock()
        self._scheduled = False          # a serve step is queued on the loop or running
        self.batches = 0                 # commits made by the loop, and the largest
        self.largest = 0

    def attach(self, server: Any) -> None:
        """Start keeping deliveries in ``server``'s loop."""
        self._wake = _waker(server._map, self._serve)
        self.server = server

    def add_task(self, task: Any) -> None:
        """Called by waitress (from the loop, or from a request thread when a pipelined
        request follows) when a connection has a complete request to serve."""
        if self.server is not None and self._is_delivery(task):
            with self._lock:
                self._ready.append(task)
                schedule, self._scheduled = not self._scheduled, True
            if schedule:   # run on the loop's next turn, outside waitress's channel locks
                self._wake.pull()
            return
        super().add_task(task)

    def _is_delivery(self, task: Any) -> bool:
        requests = getattr(task, "requests", None)
        request = requests[0] if requests else None
        return (request is not None and not request.error and request.command == "POST"
                and request.path == self.path)

    def _serve(self) -> None:
        """The loop's step: every delivery ready now, in the three steps above."""
        try:
            while True:
                with self._lock:
                    if not self._ready:
                        self._scheduled = False
                        return
                    channels = list(self._ready)
                    self._ready.clear()
                try:
                    self._serve_together(channels)
                except Exception as exc:   # never let one step stop the loop
                    log.error("ingest_loop_step_failed", error=repr(exc), exc_info=exc)
        except BaseException:
            # KeyboardInterrupt from serve's SIGTERM handler: it goes on to end the loop;
            # what is still ready was not stored, and Discourse delivers it again.
            with self._lock:
                self._scheduled = False
            raise

    def _serve_together(self, channels: list[Any]) -> None:
        r = self.receiver
        pressure = r.pressure
        if pressure is not None:
            pressure.begin()
        try:
            answers = [self._admit(channel) for channel in channels]
            try:
                self._store(answers)
            except Exception as exc:     # a bug: each delivery not yet answered gets 500
                for answer in answers:
                    if answer is not None and isinstance(answer[0], hotpath.Admitted):
                        answer[0], answer[1] = hotpath.refusal(exc)
            for channel, answer in zip(channels, answers, strict=True):
                if answer is None:    # not what it seemed: the request threads serve it
                    ThreadedTaskDispatcher.add_task(self, channel)
                    continue
                self._answer(channel, answer)
        finally:
            if pressure is not None:
                pressure.end()

    @staticmethod
    def _answer(channel: Any, answer: list) -> None:
        """Let waitress serve the request with its prepared answer. A failure there (a bug:
        waitress catches the application's own) closes that connection only, so the
        others of the step are still answered and none waits for a task never started."""
        hotpath.PREPARED.answer = answer
        try:
            channel.service()
        except Exception as exc:
            log.error("ingest_loop_answer_failed", error=repr(exc), exc_info=exc)
            channel.will_close = True
            channel.server.pull_trigger()
        finally:
            hotpath.PREPARED.answer = None

    def _admit(self, channel: Any) -> list | None:
        """[status, payload, started] or [Admitted, None, started]; None: not a delivery."""
        started = time.perf_counter()
        try:
            environ = channel.task_class(channel, channel.requests[0]).get_environment()
            if environ.get("PATH_INFO") != self.path or environ.get("REQUEST_METHOD") != "POST":
                return None
            got = hotpath.admit(self.receiver, environ)
        except Exception as exc:
            return [*hotpath.refusal(exc), started]
        if isinstance(got, hotpath.Admitted):
            return [got, None, started]
        return [*got, started]

    def _store(self, answers: list[list | None]) -> None:
        """Commit every admitted delivery at once and put each one's answer in place."""
        admitted = [a for a in answers if a is not None and isinstance(a[0], hotpath.Admitted)]
        if not admitted:
            return
        results = self.receiver.writer.store_batch([a[0].item() for a in admitted])
        self.batches += 1
        self.largest = max(self.largest, len(admitted))
        for answer, result in zip(admitted, results, strict=True):
            if isinstance(result, Exception):
                answer[0], answer[1] = hotpath.refusal(result)
            else:
                try:
                    answer[0], answer[1] = hotpath.accepted(self.receiver, answer[0], result)
                except Exception as exc:
                    answer[0], answer[1] = hotpath.refusal(exc)

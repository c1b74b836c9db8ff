"""Keep it found (issue 18): hostile deliveries through the receiver, the processor and the
delivery workers, in-process. After each case: no 5xx, the writer alive, every 202'd
delivery processed or failed with a reason, nothing stuck, no action retried on a
non-transient error.

Bounded for CI: ``SYNCD_FUZZ_EXAMPLES`` cases (150 by default, well under a minute on a busy
machine); ``make fuzz`` runs the same kind of cases for ten minutes through ``syncd serve``.
"""
from __future__ import annotations

import itertools
import json
import os
import tempfile
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings, strategies as st

from standins import hostile
from syncd.clock import utcnow
from syncd.config import settings_from_text
from syncd.inbox.http import Receiver, create_app
from syncd.inbox.writer import IngestWriter
from syncd.outbox.workers import make_workers
from syncd.processor import Processor
from syncd.replay import signed
from syncd.rules.reloader import RulesHolder
from syncd.service import prepare
from syncd.store import similar

from conftest import ROOT, SECRET

EXAMPLES = int(os.environ.get("SYNCD_FUZZ_EXAMPLES", "150"))
_ids = itertools.count(1_000_000)


class Pipeline:
    """One receiver, processor and set of delivery workers over one database."""

    def __init__(self, folder: Path):
        # the example config and the shipped rules, every destination dry-run
        text = (ROOT / "config.example.yaml").read_text(encoding="utf-8")
        env = {"SYNCD_DB": str(folder / "fuzz.db"), "DISCOURSE_WEBHOOK_SECRET": SECRET}
        self.settings = settings_from_text(text, str(ROOT / "config.yaml"), env=env)
        self.store, secret = prepare(self.settings)
        self.writer = IngestWriter(self.store)
        self.client = create_app(Receiver(self.settings, self.store, secret,
                                          writer=self.writer)).test_client()
        rules = RulesHolder(self.settings.resolve(self.settings.rules),
                            list(self.settings.channels),
                            dict(self.settings.discourse.category_map))
        self.processor = Processor(self.settings, self.store, rules, similar)
        self.workers = make_workers(self.settings, self.store)

    def post(self, name: str, raw: bytes, changes: dict[str, str]) -> tuple[int, dict]:
        headers, _ = hostile.recording(name)
        headers = {**headers, "X-Discourse-Event-Id": str(next(_ids)), **changes}
        r = self.client.post("/webhooks/discourse", data=raw,
                             headers=signed(headers, raw, SECRET))
        try:
            body = r.get_json(silent=True) or {}
        except Exception:
            body = {}
        return r.status_code, body

    def drain(self, steps: int = 300) -> bool:
        """Process and deliver everything due, later than every grace period. True: idle."""
        later = utcnow() + timedelta(seconds=self.settings.processor.first_post_grace_seconds + 1)
        for _ in range(steps):
            busy = self.processor.run_once(later)
            for worker in self.workers:
                busy = worker.run_once(later) or busy
            if not busy:
                return True
        return False


@pytest.fixture(scope="module")
def pipeline():
    with tempfile.TemporaryDirectory() as folder:
        p = Pipeline(Path(folder))
        yield p
        p.writer.close()


def _check(p: Pipeline, status: int, answer: dict) -> None:
    assert status < 500, (status, answer)
    assert p.writer.alive, "the ingest writer died"
    assert p.drain(), "the processor or the workers never went idle (a stuck delivery)"
    conn = p.store.db().conn
    if status == 202:
        row = conn.execute("SELECT status, error FROM deliveries WHERE id = ?",
                           (answer["delivery_id"],)).fetchone()
        assert row is not None, "a 202'd delivery was lost"
        assert row[0] == "processed" or (row[0] == "failed" and row[1]), row
    assert conn.execute("SELECT COUNT(*) FROM deliveries WHERE status = 'pending'"
                        ).fetchone()[0] == 0, "a delivery is stuck pending"
    stuck = conn.execute("SELECT id, status, attempts, last_error FROM outbox "
                         "WHERE status IN ('pending', 'sending')").fetchall()
    assert stuck == [], f"actions retried or stuck (every destination is dry-run): {stuck}"
    retried = conn.execute("SELECT id, attempts, last_error FROM outbox WHERE status = 'dead' "
                           "AND attempts > 1").fetchall()
    assert retried == [], f"dead actions that were tried more than once: {retried}"


def _mutated(draw) -> tuple[str, bytes, dict[str, str]]:
    name = draw(st.sampled_from(hostile.names()))
    _, body = hostile.recording(name)
    path = draw(st.sampled_from(list(hostile.paths(body))))
    return name, hostile.with_value(body, path, draw(st.sampled_from(hostile.BAD_VALUES))), {}


JSON = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-2 ** 70, max_value=2 ** 70)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner,
                                                                 max_size=4),
    max_leaves=12)


def _generated(draw) -> tuple[str, bytes, dict[str, str]]:
    """A recording with one field replaced by hypothesis-generated JSON."""
    name = draw(st.sampled_from(hostile.names()))
    _, body = hostile.recording(name)
    path = draw(st.sampled_from(list(hostile.paths(body))))
    value = json.dumps(draw(JSON))
    return name, hostile.with_value(body, path, value), {}


@st.composite
def cases(draw) -> tuple[str, bytes, dict[str, str]]:
    kind = draw(st.sampled_from(["mutated", "mutated", "generated", "structural", "headers"]))
    if kind == "mutated":
        return _mutated(draw)
    if kind == "generated":
        return _generated(draw)
    if kind == "structural":
        return draw(st.sampled_from(hostile.names())), draw(st.sampled_from(hostile.STRUCTURAL)), {}
    name = draw(st.sampled_from(hostile.names()))
    _, body = hostile.recording(name)
    other = draw(st.sampled_from(["topic_created", "post_created", "post_liked",
                                  "accepted_solution", "topic_closed_status_updated"]))
    kind_header = draw(st.sampled_from(["topic", "post", "like", "solved", "user", "ping"]))
    return name, json.dumps(body).encode(), {"X-Discourse-Event": other,
                                             "X-Discourse-Event-Type": kind_header}


def _seeded(fn):
    for seed in hostile.SEEDS:
        fn = example(seed)(fn)
    return fn


@settings(max_examples=EXAMPLES, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                 HealthCheck.function_scoped_fixture])
@given(case=cases())
@_seeded
def test_hostile_deliveries_never_stop_the_pipeline(pipeline, case):
    """Any signed body: never a 5xx, the writer lives, a 202 is processed or failed with a
    reason, nothing is stuck or retried on a non-transient error."""
    name, raw, changes = case
    status, answer = pipeline.post(name, raw, changes)
    _check(pipeline, status, answer)


def test_the_recorded_deliveries_still_go_through(pipeline):
    """The fuzz harness itself: every real recording is accepted and processed."""
    for name in hostile.names():
        headers, body = hostile.recording(name)
        status, answer = pipeline.post(name, json.dumps(body).encode(), {})
        assert status in (200, 202), (name, status, answer)
        _check(pipeline, status, answer)

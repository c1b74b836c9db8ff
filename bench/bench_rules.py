"""Benchmark: evaluate recorded events against 500 realistic rules; print the p99.

    python bench/bench_rules.py        ->  rules_eval_p99_ms_500_rules: 0.123

The rules mix regexes on title and body, tag and category conditions, any/not, and
priority/likes thresholds, spread over the events Discourse sends. The events are the
recorded deliveries in webhooks/, applied to tickets as the processor does.
"""
from __future__ import annotations

import random
import sys
import tempfile
import time
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from syncd.core.events import Event  # noqa: E402
from syncd.replay import read_recording  # noqa: E402
from syncd.rules import evaluate, load_rules  # noqa: E402
from syncd.core.tickets import RULE_EVENTS, Change, StaffPolicy, Ticket, apply  # noqa: E402

RULES, ROUNDS = 500, 400
CATEGORIES = {"support": 5, "hardware": 7, "grades": 8, "payments": 9, "faq": 10}
WORDS = ["printer", "wifi", "exam", "grade", "refund", "login", "password", "projector",
         "duplex", "library", "fee", "invoice", "deadline", "vpn", "email", "laptop"]
EVENTS = list(RULE_EVENTS)


def rule_yaml(i: int, rnd: random.Random) -> str:
    w1, w2 = rnd.sample(WORDS, 2)
    conds = [
        f"title_matches: '(?i)\\b({w1}|{w2})s?\\b'",
        f"body_matches: '(?i)\\b{w1}\\w*\\s+(jam|error|fail\\w*)'",
        f"tags_any: [{w1}, {w2}]",
        f"category: [{rnd.choice(list(CATEGORIES))}, {rnd.choice(list(CATEGORIES))}]",
        f"priority_at_least: {rnd.choice(['normal', 'high'])}",
        f"likes_at_least: {rnd.randint(1, 10)}",
        "not: {tags_any: [wontfix, spam]}",
        f"any: [{{status: open}}, {{tags_all: [{w1}, urgent]}}]",
    ]
    chosen = rnd.sample(conds, rnd.randint(2, 4))
    on = rnd.sample(EVENTS, rnd.randint(3, 6))   # each event: ~175 of the 500 rules
    ifs = "".join(f"      {c}\n" for c in chosen)
    return (f"  - name: rule-{i:03d}\n    on: [{', '.join(on)}]\n    once: false\n    if:\n{ifs}"
            f"    then:\n      - notify: {{channel: staff, text: '#{{{{ ticket.id }}}} {w1}'}}\n"
            f"      - set_priority: high\n")


def build_rules(folder: Path) -> None:
    rnd = random.Random(7)
    for f in range(5):
        body = "".join(rule_yaml(f * 100 + i, rnd) for i in range(RULES // 5))
        (folder / f"{f}0-bench.yaml").write_text("rules:\n" + body)


def recorded_changes() -> list[tuple[Ticket, object]]:
    """(ticket, change) pairs from webhooks/*.json, applied in story order."""
    staff = StaffPolicy(frozenset({"support-team"}))
    ticket, out = None, []
    for path in sorted((ROOT / "webhooks").glob("*.json"), key=lambda p: read_recording(p)[0]
                       .get("X-Discourse-Event-Id", "")):
        headers, raw = read_recording(path)
        event = Event.from_delivery(headers, raw)
        t = apply(ticket, event, "2026-03-02T12:00:00.000000Z", staff)
        if t.ticket is None:
            continue
        ticket = t.ticket
        body = "My printer jams on duplex; the printer error says paper jam again."
        ticket = replace(ticket, body=ticket.body or body, likes=max(ticket.likes, 4))
        out.extend((ticket, c) for c in t.changes)
    names = {c.name for _, c in out}
    for extra in ("tag_added", "priority_changed", "topic_created"):
        if extra not in names and ticket is not None:
            out.append((ticket, Change(extra, tag="printer")))
    return out


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        build_rules(Path(tmp))
        rules = load_rules(tmp, ["staff"], CATEGORIES)
    assert len(rules) == RULES
    pairs = recorded_changes()
    by_id = {i: s for s, i in CATEGORIES.items()}
    now = datetime(2026, 3, 2, 12, tzinfo=timezone.utc)
    samples, fired = [], 0
    for _ in range(ROUNDS):
        for ticket, change in pairs:
            start = time.perf_counter()
            fired += len(evaluate(rules, change, ticket, now, categories=by_id))
            samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    p99 = samples[int(len(samples) * 0.99) - 1]
    print(f"# {len(samples)} evaluations of {len(pairs)} recorded changes, "
          f"{fired // ROUNDS} firings a round, median {samples[len(samples) // 2]:.3f} ms",
          file=sys.stderr)
    print(f"rules_eval_p99_ms_500_rules: {p99:.3f}")


if __name__ == "__main__":
    main()

"""``syncd replay``: recorded deliveries through the full pipeline.

Each file is signed again with the configured secret and goes through the same receiver
(verify, dedupe, store) and processor as a live delivery; with ``url`` it is POSTed to a
running syncd instead.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from syncd.inbox import signature
from syncd.config import Settings
from syncd.errors import PayloadError

ROOT_TO_EVENT = {"topic": "topic_created", "post": "post_created", "like": "post_liked",
                 "solved": "accepted_solution", "topic_voting": "topic_upvote",
                 "assign": "assigned", "ping": "ping"}


def read_recording(path: Path) -> tuple[dict[str, str], bytes]:
    """Headers and compact body bytes from ``{"headers", "body"}`` or a bare body."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise PayloadError(f"{path}: not a JSON file: {exc}") from exc
    if isinstance(data, dict) and "body" in data and isinstance(data.get("headers"), dict):
        headers, body = dict(data["headers"]), data["body"]
    elif isinstance(data, dict) and len(data) == 1:
        root = next(iter(data))
        headers = {"X-Discourse-Event-Type": root,
                   "X-Discourse-Event": ROOT_TO_EVENT.get(root, root)}
        body = data
    else:
        raise PayloadError(f"{path}: expected a delivery {{\"headers\", \"body\"}} or a body with "
                           "one root key (topic, post, like, solved)")
    raw = body.encode("utf-8") if isinstance(body, str) else \
        json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    headers.setdefault("X-Discourse-Event-Id", "replay-" + signature.sign("id", raw)[7:23])
    headers.setdefault("X-Discourse-Instance", "replay")
    headers["Content-Type"] = "application/json"
    return headers, raw


def signed(headers: dict[str, str], raw: bytes, secret: str) -> dict[str, str]:
    return {**headers, "X-Discourse-Event-Signature": signature.sign(secret, raw)}


def discourse_order(paths: list[Path]) -> list[Path]:
    """Sort by X-Discourse-Event-Id (the order Discourse made them); others keep their place
    after those."""
    def key(item: tuple[int, Path]):
        index, path = item
        try:
            event_id = int(read_recording(path)[0].get("X-Discourse-Event-Id", ""))
        except (ValueError, PayloadError):
            return (1, index)
        return (0, event_id)
    return [p for _, p in sorted(enumerate(paths), key=key)]


def replay_files(settings: Settings, paths: list[Path], url: str | None = None,
                 as_given: bool = False) -> list[tuple[str, int, Any]]:
    if not as_given:
        paths = discourse_order(paths)
    if url:
        return _over_http(settings, paths, url)
    from syncd.inbox.http import Receiver, create_app
    from syncd.processor import Processor
    from syncd.store import similar
    from syncd.service import load_rules_holder, prepare
    store, secret = prepare(settings)
    client = create_app(Receiver(settings, store, secret)).test_client()
    processor = Processor(settings, store, load_rules_holder(settings, store), similar)
    results = []
    for path in paths:
        headers, raw = read_recording(path)
        answer = client.post("/webhooks/discourse", data=raw, headers=signed(headers, raw, secret))
        for _ in range(10_000):  # bounded: one delivery in, a few synthetic events out
            if not processor.run_once():
                break
        results.append((str(path), answer.status_code, answer.get_json()))
    return results


def _over_http(settings: Settings, paths: list[Path], url: str) -> list[tuple[str, int, Any]]:
    import requests
    from syncd.inbox import secret as secrets_
    from syncd.store.db import open_db
    secret, _ = secrets_.resolve(settings, open_db(settings.resolve(settings.database)))
    results = []
    for path in paths:
        headers, raw = read_recording(path)
        answer = requests.post(url.rstrip("/") + "/webhooks/discourse", data=raw,
                               headers=signed(headers, raw, secret), timeout=10)
        try:
            body = answer.json()
        except ValueError:
            body = answer.text
        results.append((str(path), answer.status_code, body))
    return results

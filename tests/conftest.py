"""Shared fixtures: settings over a real SQLite file, signed deliveries, the samples."""
from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from syncd.config import settings_from_text
from syncd.replay import read_recording, signed

ROOT = Path(__file__).resolve().parent.parent
WEBHOOKS = ROOT / "webhooks"
SECRET = "test-secret-not-real-0001"


def make_settings(tmp_path: Path, extra: str = "", categories: str = "[support]"):
    text = (
        f"database: {tmp_path / 'syncd.db'}\n"
        f"rules: {tmp_path / 'no-rules'}\n"
        "timezone: Asia/Kolkata\n"
        "discourse:\n"
        f"  webhook_secret: {SECRET}\n"
        f"  categories: {categories}\n"
        "  category_map: {support: 5, hardware: 7, grades: 8, payments: 9, faq: 10}\n"
        "  staff_groups: [support-team]\n"
        "processor:\n  first_post_grace_seconds: 30\n"
        + extra
    )
    return settings_from_text(text, str(tmp_path / "config.yaml"), env={})


def online(settings, url: str = "https://forum.example.com"):
    """The same settings with a Discourse URL (no longer dry-run)."""
    return replace(settings, discourse=replace(settings.discourse, url=url))


@pytest.fixture
def settings(tmp_path):
    return make_settings(tmp_path)


def sample(name: str) -> tuple[dict[str, str], bytes]:
    """A recorded delivery from webhooks/: headers and compact body bytes."""
    return read_recording(WEBHOOKS / f"{name}.json")


def sample_body(name: str) -> dict:
    return json.loads(sample(name)[1])


def signed_sample(name: str, secret: str = SECRET, event_id: str | None = None,
                  body: dict | None = None) -> tuple[dict[str, str], bytes]:
    headers, raw = sample(name)
    if body is not None:
        raw = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
    if event_id is not None:
        headers = {**headers, "X-Discourse-Event-Id": str(event_id)}
    return signed(headers, raw, secret), raw

"""The webhook secret: from config, or generated once, stored, and printed at first start."""
from __future__ import annotations

import sqlite_utils

from syncd.config import Settings
from syncd.inbox.signature import generate_secret
from syncd.store.db import get_setting, put_setting, transaction

SETTING = "webhook_secret"


def resolve(settings: Settings, db: sqlite_utils.Database) -> tuple[str, bool]:
    """The secret to verify deliveries with, and whether it was generated just now."""
    if settings.discourse.webhook_secret:
        return settings.discourse.webhook_secret, False
    stored = get_setting(db, SETTING)
    if stored:
        return stored, False
    secret = generate_secret()
    with transaction(db) as conn:
        put_setting(conn, SETTING, secret)
    return secret, True


def announcement(secret: str, settings: Settings) -> str:
    """What to paste into Discourse, shown once on the terminal (never in the log)."""
    host = settings.server.host
    return (
        "syncd generated a webhook secret and stored it in the database.\n"
        "In Discourse: Admin → API → Webhooks → your webhook → Secret, paste:\n\n"
        f"    {secret}\n\n"
        f"Payload URL: http://{host}:{settings.server.port}/webhooks/discourse "
        "(use the address Discourse reaches syncd at), content type application/json.\n"
        "To keep it in config instead, set DISCOURSE_WEBHOOK_SECRET to this value.\n"
    )

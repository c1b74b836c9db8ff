"""``syncd intake``: requests from Teams and forms, and what became of them."""
from __future__ import annotations

import json

import click

from syncd.cli.group import main, with_settings
from syncd.config import Settings
from syncd.store import db as storage
from syncd.store import intakes


def _line(v: dict) -> str:
    where = v["topic_url"] or (f"error: {v['error']}" if v["error"] else "")
    ticket = f"ticket {v['ticket_id']}" if v["ticket_id"] else "no ticket yet"
    return (f"{v['id']:>6}  {v['source']:<5} {v['status']:<7} {v['priority']:<6} "
            f"{ticket:<16} {v['title'][:50]:<50}  {where}")


@main.command("intake")
@click.option("--failed", is_flag=True, help="Only requests whose topic could not be made.")
@click.option("--pending", is_flag=True, help="Only requests whose topic is not made yet.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object a line.")
@click.option("--limit", type=int, default=50, show_default=True, help="At most this many, newest first.")
@with_settings
def intake(settings: Settings, failed: bool, pending: bool, as_json: bool, limit: int) -> None:
    """List requests from Teams and forms (newest first): pending, created or failed, with
    their topic, their ticket or the reason. A failed one is sent again with
    `syncd outbox retry` (its action is listed as `intake N` in `syncd outbox --failed`).

    Example:

        syncd intake --failed
    """
    db = storage.open_db(settings.resolve(settings.database), settings.database_synchronous)
    wanted = {"failed"} if failed else {"pending"} if pending else None
    ids = [r[0] for r in db.conn.execute("SELECT id FROM intakes ORDER BY id DESC")]
    shown = 0
    for intake_id in ids:
        view = intakes.view(intakes.load(db.conn, intake_id))
        if wanted and view["status"] not in wanted:
            continue
        click.echo(json.dumps(view, ensure_ascii=False) if as_json else _line(view))
        shown += 1
        if shown >= limit:
            break
    if not shown and not as_json:
        click.echo("no requests from Teams or forms" + (" in that state" if wanted else ""))

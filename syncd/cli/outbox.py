"""``syncd outbox``: undelivered and failed actions; ``syncd outbox retry``: send them again."""
from __future__ import annotations

import json

import click

from syncd.outbox import queue as box
from syncd.store import db as storage
from syncd.cli.group import main, settings_of, with_settings
from syncd.config import Settings
from syncd.errors import SyncdError


def _open(settings: Settings):
    return storage.open_db(settings.resolve(settings.database), settings.database_synchronous)


def _line(row: dict) -> str:
    error = f"  {row['last_error']}" if row.get("last_error") else ""
    when = row["next_attempt_at"] if row["status"] == "pending" else row["updated_at"]
    owner = f"ticket {row['ticket_id']:<7}" if row["ticket_id"] >= 0 \
        else f"intake {-row['ticket_id']:<7}"   # create_intake_topic: no ticket yet
    return (f"{row['id']:>6}  {owner} {row['kind']:<17} {row['status']:<8} "
            f"attempts {row['attempts']:<3} {when}{error}")


@main.group(invoke_without_command=True)
@click.option("--failed", is_flag=True, help="Only dead actions and those that failed before.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object a line.")
@click.option("--limit", type=int, default=200, show_default=True, help="At most this many.")
@click.pass_context
def outbox(ctx: click.Context, failed: bool, as_json: bool, limit: int) -> None:
    """List undelivered (pending, sending) and dead actions, oldest first.

    Example:

        syncd outbox --failed
    """
    if ctx.invoked_subcommand is not None:
        return  # settings are loaded by the subcommand, after its own -h
    settings = settings_of(ctx)
    db = _open(settings)
    found = box.list_actions(db, failed=failed, limit=limit)
    for row in found:
        if as_json:
            row = {**row, "params": json.loads(row["params"])}
            click.echo(json.dumps(row, ensure_ascii=False, default=str))
        else:
            click.echo(_line(row))
    if not found and not as_json:
        click.echo("no failed actions" if failed else _nothing_waiting(db))


def _nothing_waiting(db) -> str:
    by_status = box.counts(db)["by_status"]
    done = ", ".join(f"{by_status[s]} {s.replace('_', '-')}" for s in ("sent", "dry_run")
                     if by_status.get(s))
    return "nothing waiting or failed" + (f" ({done})" if done else "")


@outbox.command("retry")
@click.argument("ids", nargs=-1, type=int)
@click.option("--all-failed", is_flag=True, help="Every dead action, and those backing off.")
@with_settings
def retry(settings: Settings, ids: tuple[int, ...], all_failed: bool) -> None:
    """Send dead actions again (due now, attempts reset). Sent actions are left alone.

    Example:

    \b
        syncd outbox retry 41 42
        syncd outbox retry --all-failed
    """
    if bool(ids) == all_failed:
        raise SyncdError("give action ids, or --all-failed (not both)")
    db = _open(settings)
    changed = box.retry_all_failed(db) if all_failed else box.retry(db, ids)
    skipped = sorted(set(ids) - set(changed))
    click.echo(f"{len(changed)} action(s) queued again" +
               (f": {', '.join(map(str, changed))}" if changed else ""))
    if skipped:  # exit 2, so a script sees that not everything it named was retried
        raise SyncdError(f"not retried (unknown, sent or in flight): "
                         f"{', '.join(map(str, skipped))}")

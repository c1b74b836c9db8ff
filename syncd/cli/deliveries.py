"""``syncd deliveries``: what Discourse sent, and a second chance for failed ones."""
from __future__ import annotations

import json

import click

from syncd.store import deliveries as store_deliveries
from syncd.cli.group import main, settings_of
from syncd.errors import SyncdError
from syncd.store.db import open_db, transaction


def _db(ctx: click.Context):
    settings = settings_of(ctx)
    return open_db(settings.resolve(settings.database), settings.database_synchronous)


@main.group(invoke_without_command=True)
@click.option("--failed", is_flag=True, help="Only deliveries that could not be processed.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object a line.")
@click.option("--limit", type=int, default=50, show_default=True, help="At most this many.")
@click.pass_context
def deliveries(ctx: click.Context, failed: bool, as_json: bool, limit: int) -> None:
    """List the newest deliveries, or those that failed (kept with the reason).

    A delivery fails when its payload cannot be read or processing it raised an error
    (a broken rule, a bug); it is kept, and `syncd deliveries retry` processes it again.

    Example:

        syncd deliveries --failed
    """
    if ctx.invoked_subcommand is not None:
        return
    found = store_deliveries.listing(_db(ctx).conn, failed, limit)
    for row in found:
        if as_json:
            click.echo(json.dumps(row, ensure_ascii=False))
        else:
            error = f"  {row['error']}" if row["error"] else ""
            click.echo(f"{row['id']:>7}  {row['received_at']}  {row['event_name']:<28} "
                       f"topic {row['topic_id']!s:<7} {row['status']:<9}{error}")
    if not found and not as_json:
        click.echo("no failed deliveries" if failed else "no deliveries yet")


@deliveries.command("retry")
@click.argument("ids", nargs=-1, type=int)
@click.option("--all-failed", is_flag=True, help="Every failed delivery.")
@click.pass_context
def retry(ctx: click.Context, ids: tuple[int, ...], all_failed: bool) -> None:
    """Process failed deliveries again (after fixing the rule or upgrading syncd).

    Example:

        syncd deliveries retry --all-failed
    """
    if not ids and not all_failed:
        raise SyncdError("name delivery ids, or --all-failed ('syncd deliveries --failed' "
                         "lists them)")
    with transaction(_db(ctx)) as conn:
        done = store_deliveries.retry(conn, None if all_failed else list(ids))
    if done:
        click.echo(f"{len(done)} deliveries will be processed again")
    missing = sorted(set(ids) - set(done))
    if missing:
        raise SyncdError(f"not failed or unknown, not retried: {', '.join(map(str, missing))}")
    if not done:
        click.echo("nothing to retry: no failed delivery")

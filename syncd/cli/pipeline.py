"""serve, check, tickets, ticket, replay, backup: the pipeline's commands."""
from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path

import click

from syncd import replay as replaying
from syncd.store import db as storage
from syncd.store import tickets as ticketstore
from syncd.cli.group import main, with_settings
from syncd.config import Settings, describe
from syncd.errors import ConfigError, SyncdError
from syncd.core.tickets import PRIORITIES, STATUSES
from syncd.clock import utcnow


def _open(settings: Settings):
    return storage.open_db(settings.resolve(settings.database), settings.database_synchronous)


@main.command()
@click.option("--host", default=None, help="Listen address (default: server.host).")
@click.option("--port", type=int, default=None, help="Listen port (default: server.port).")
@with_settings
def serve(settings: Settings, host: str | None, port: int | None) -> None:
    """Run the receiver, processor and delivery workers in one process.

    SIGTERM finishes the work in flight and exits; SIGHUP reloads the rules.

    Example:

        syncd --config config.yaml serve --port 8080
    """
    from syncd.service import serve as run
    server = replace(settings.server, host=host or settings.server.host,
                     port=settings.server.port if port is None else port)
    raise SystemExit(run(replace(settings, server=server)))


@main.command()
@click.pass_context
def check(ctx: click.Context) -> None:
    """Validate the config and the rules; print a summary; exit 2 on any problem.

    Example:

        syncd --config config.yaml check
    """
    from syncd.cli.group import settings_of
    from syncd.rules import load_rules
    settings = settings_of(ctx)
    for line in describe(settings):
        click.echo(line)
    rules_path = settings.resolve(settings.rules)
    cmap = dict(settings.discourse.category_map)
    db_path = settings.resolve(settings.database)
    version_line = None
    if os.path.exists(db_path):
        from syncd.store import categories, site
        conn = _open(settings).conn
        cmap = dict(categories.load(conn, cmap).by_slug)
        version_line = site.describe(site.version_info(conn))
    elif not settings.discourse.dry_run:
        from syncd.store import site
        version_line = site.describe(None)
    if version_line:
        click.echo(version_line)
    ruleset = load_rules(rules_path, list(settings.channels), cmap)
    from syncd.timers.scheduler import check_rules
    if check_rules(ruleset, settings):
        raise ConfigError(check_rules(ruleset, settings))
    click.echo(f"rules: {len(ruleset)} loaded from {rules_path}")
    click.echo("ok")


@main.command()
@click.option("--status", type=click.Choice(STATUSES), help="Only tickets in this status.")
@click.option("--priority", type=click.Choice(PRIORITIES), help="Only tickets of this priority.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object a line.")
@click.option("--limit", type=int, default=None, help="At most this many (newest first).")
@click.option("--breaching", is_flag=True, help="Only tickets past an SLA due time.")
@with_settings
def tickets(settings: Settings, status, priority, as_json: bool, limit, breaching: bool) -> None:
    """List tickets, newest first.

    Example:

        syncd tickets --status open --priority urgent --json
        syncd tickets --breaching
    """
    from syncd.core.sla import breaching as is_breaching
    from syncd.timers.keeper import with_sla
    conn = _open(settings).conn
    found = ticketstore.query(conn, status, priority, None if breaching else limit)
    found = with_sla(conn, settings, found, utcnow())
    if breaching:
        found = [t for t in found if is_breaching(t.sla)][:limit]
    if as_json:
        for t in found:
            click.echo(json.dumps(t.as_dict(), ensure_ascii=False))
        return
    if not found:
        click.echo("no tickets")
        return
    click.echo(f"{'id':>7}  {'status':9} {'priority':8} {'likes':>5}  title")
    for t in found:
        late = "  (SLA breached)" if is_breaching(t.sla) else ""
        click.echo(f"{t.id:>7}  {t.status:9} {t.priority:8} {t.likes:>5}  {t.title}{late}")


@main.command()
@click.argument("ticket_id", type=int)
@click.option("--json", "as_json", is_flag=True, help="The ticket and its history as JSON.")
@with_settings
def ticket(settings: Settings, ticket_id: int, as_json: bool) -> None:
    """Show one ticket with its history: events, rule firings, actions and their state.

    Example:

        syncd ticket 1234
    """
    conn = _open(settings).conn
    found = ticketstore.load(conn, ticket_id)
    if found is None:
        raise SyncdError(f"no ticket {ticket_id}: 'syncd tickets' lists the ticket ids")
    from syncd.core.sla import lines as sla_lines
    from syncd.store import timers
    from syncd.timers.keeper import with_sla
    found = with_sla(conn, settings, [found], utcnow())[0]
    history, actions = ticketstore.history(conn, ticket_id), ticketstore.actions(conn, ticket_id)
    if as_json:
        click.echo(json.dumps({"ticket": found.as_dict(), "history": history,
                               "actions": actions, "timers": timers.pending_for(conn, ticket_id)},
                              ensure_ascii=False, indent=2))
        return
    t = found
    click.echo(f"#{t.id} {t.title}\n  {t.url or ''}")
    click.echo(f"  status {t.status} · priority {t.priority} · {t.visibility} · likes {t.likes}"
               f" · tags {', '.join(t.tags) or '-'} · author {t.author}")
    if t.sla:
        click.echo(f"  sla {t.sla['policy']} ({t.sla['calendar']}): "
                   + "; ".join(sla_lines(t.sla, settings.tz, utcnow())))
    for timer in timers.pending_for(conn, ticket_id):
        click.echo(f"  timer {timer['kind']} {timer['target']} due {timer['due_at']}")
    click.echo("history:")
    for h in history:
        detail = {k: v for k, v in h["detail"].items() if v not in (None, "", [])}
        click.echo(f"  {h['at']}  {h['kind']:6} {h['name']:22} [{h['source']}] "
                   f"{json.dumps(detail, ensure_ascii=False) if detail else ''}")
    click.echo("actions:")
    for a in actions or []:
        err = f"  ({a['last_error']})" if a["last_error"] else ""
        click.echo(f"  #{a['id']} {a['kind']:16} {a['status']:8} tries {a['attempts']}"
                   f"  rule {a['rule']}{err}")


@main.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--url", default=None, metavar="URL",
              help="POST to a running syncd instead (e.g. http://127.0.0.1:8080).")
@click.option("--as-given", is_flag=True,
              help="Keep the files' order (default: Discourse's order, by event id).")
@with_settings
def replay(settings: Settings, files: tuple[str, ...], url: str | None, as_given: bool) -> None:
    """Feed recorded deliveries through the full pipeline, as if Discourse sent them.

    Each file is a JSON body or {"headers": ..., "body": ...}; it is signed again with
    the configured secret, then verified, deduplicated, stored and processed, in the
    order of their X-Discourse-Event-Id unless --as-given.

    Example:

        syncd replay webhooks/*.json
    """
    results = replaying.replay_files(settings, [Path(f) for f in files], url, as_given)
    for path, status, body in results:
        click.echo(f"{path}: {status} {json.dumps(body, ensure_ascii=False)}")


@main.command()
@click.argument("target", type=click.Path(dir_okay=False))
@with_settings
def backup(settings: Settings, target: str) -> None:
    """Write a consistent copy of the database, safe while syncd runs.

    Example:

        syncd backup backups/syncd-$(date +%F).db
    """
    if os.path.exists(target):
        raise SyncdError(f"{target} exists: choose a new file name")
    Path(target).parent.mkdir(parents=True, exist_ok=True)
    storage.backup(_open(settings), target)
    click.echo(f"backed up to {target}")

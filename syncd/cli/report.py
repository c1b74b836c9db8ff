"""``syncd report``: how fast the helpdesk answers, in business hours, and SLA attainment."""
from __future__ import annotations

import json
from datetime import timedelta

import click

from syncd.cli.group import main, with_settings
from syncd.clock import utcnow
from syncd.config import Settings
from syncd.core.durations import FORM, parse_duration
from syncd.errors import SyncdError
from syncd.timers.report import GROUPINGS, build
from syncd.store import db as storage


def _fmt(value) -> str:
    return "-" if value is None else f"{value:.1f} h"


@main.command()
@click.option("--since", default="30d", show_default=True, metavar="DURATION",
              help="How far back, e.g. 7d, 30d, 12h.")
@click.option("--by", type=click.Choice(GROUPINGS), default=None, help="One row per group.")
@click.option("--calendar", default=None, metavar="NAME",
              help="Count business hours on this calendar (default: each ticket's SLA policy's).")
@click.option("--json", "as_json", is_flag=True, help="The report as one JSON object.")
@with_settings
def report(settings: Settings, since: str, by: str | None, calendar: str | None,
           as_json: bool) -> None:
    """Tickets opened and resolved, first-response and resolution times (median, p90) in
    business hours, and SLA attainment per policy.

    Example:

        syncd report --since 30d --by priority
    """
    try:
        window = parse_duration(since)
    except ValueError:
        raise SyncdError(f"--since {since!r}: write {FORM}") from None
    cal = None
    if calendar is not None:
        if calendar != "24x7" and calendar not in settings.calendars:
            raise SyncdError(f"unknown calendar '{calendar}' (calendars: "
                             f"{', '.join(['24x7', *sorted(settings.calendars)])})")
        from syncd.core.sla import Book
        cal = Book((), dict(settings.calendars)).calendar(calendar)
    now = utcnow()
    conn = storage.open_db(settings.resolve(settings.database), settings.database_synchronous).conn
    data = build(conn, settings, now - timedelta(seconds=window), now, by, cal)
    if as_json:
        click.echo(json.dumps(data, ensure_ascii=False))
        return
    click.echo(f"since {data['since']}" + (f", by {by}" if by else ""))
    click.echo(f"{'group':16} {'opened':>7} {'resolved':>8}  {'first resp. median':>18} "
               f"{'p90':>8}  {'resolution median':>17} {'p90':>8}")
    for name, g in data["groups"].items() or {}:
        f, r = g["first_response"], g["resolution"]
        click.echo(f"{name[:16]:16} {g['opened']:>7} {g['resolved']:>8}  {_fmt(f['median_hours']):>18} "
                   f"{_fmt(f['p90_hours']):>8}  {_fmt(r['median_hours']):>17} {_fmt(r['p90_hours']):>8}")
    if not data["groups"]:
        click.echo("no tickets in this period")
    if data["sla"]:
        click.echo("SLA attainment:")
        for row in data["sla"]:
            ratio = "-" if row["attainment"] is None else f"{row['attainment'] * 100:.1f} %"
            click.echo(f"  {row['policy']:16} {row['target']:15} {ratio:>8}  "
                       f"(met {row['met']}, breached {row['breached']})")

"""``syncd secret show`` and ``syncd secret rotate``: the webhook secret Discourse signs with."""
from __future__ import annotations

from datetime import timedelta

import click

from syncd.cli.group import main, with_settings
from syncd.config import Settings
from syncd.core.intervals import ACCEPTED, parse_interval
from syncd.errors import SyncdError
from syncd.inbox import secret as secrets_
from syncd.store.db import open_db


def _db(settings: Settings):
    return open_db(settings.resolve(settings.database), settings.database_synchronous)


@main.group("secret")
def secret_cli() -> None:
    """Show or rotate the webhook secret (Discourse: Admin → API → Webhooks → Secret).

    Example:

        syncd secret show
    """


@secret_cli.command("show")
@with_settings
def show(settings: Settings) -> None:
    """Print the webhook secret deliveries are checked with, and where it comes from.

    Example:

        syncd secret show
    """
    db = _db(settings)
    value, where = secrets_.source(settings, db)
    if not value:
        value, _ = secrets_.resolve(settings, db)
        where = "the database (generated just now)"
    click.echo(value)
    click.echo(f"from {where}", err=True)
    old = None if settings.discourse.webhook_secret else secrets_.previous(db)
    if old:
        click.echo(f"the previous secret is accepted too, until {old[1]}", err=True)


@secret_cli.command("rotate")
@click.option("--grace", default="24h", show_default=True, metavar="DURATION",
              help="How long the old secret is still accepted (0: not at all).")
@with_settings
def rotate(settings: Settings, grace: str) -> None:
    """Make a new webhook secret; the old one is accepted for the grace period.

    A running serve picks up the new secret within seconds. Paste the new one into
    Discourse before the grace period ends.

    Example:

        syncd secret rotate --grace 2h
    """
    try:
        seconds = parse_interval(grace)
    except ValueError:
        raise SyncdError(f"--grace {grace!r}: give {ACCEPTED}") from None
    new, until = secrets_.rotate(settings, _db(settings), timedelta(seconds=seconds))
    click.echo(new)
    tail = f"the old secret is accepted until {until}" if until else \
        "the old secret is no longer accepted"
    click.echo("new webhook secret above: paste it in Discourse (Admin → API → Webhooks → "
               f"your webhook → Secret); {tail}", err=True)

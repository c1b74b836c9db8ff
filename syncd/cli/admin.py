"""``syncd config reference``: the configuration reference, from the schema itself."""
from __future__ import annotations

import click

from syncd.cli.group import main


@main.group("config")
def config_cli() -> None:
    """About the configuration file.

    Example:

        syncd config reference > docs/configuration.md
    """


@config_cli.command("reference")
def reference() -> None:
    """Print the configuration reference (Markdown), generated from the schema syncd
    validates with: every key, its default, what it takes and what it does.

    Example:

        syncd config reference | less
    """
    from syncd.configdoc import reference as build
    click.echo(build(), nl=False)


def restart_note(settings) -> str | None:
    """For `syncd check`: the keys a running serve would only take up after a restart
    (it records what it started with in the database)."""
    import json
    import os

    from syncd.reload import RUNNING_SETTING, restart_needed
    from syncd.store.db import get_setting, open_db
    path = settings.resolve(settings.database)
    if not os.path.exists(path):
        return None
    try:
        stored = get_setting(open_db(path, migrate_now=False), RUNNING_SETTING)
    except Exception:  # an older database without the settings table: nothing to compare
        return None
    if not stored:
        return None
    keys = restart_needed(json.loads(stored), settings)
    if not keys:
        return None
    return ("restart needed: a running syncd serve takes up these changes only when it "
            f"restarts: {', '.join(keys)} (the rest it reloads on SIGHUP or file change)")

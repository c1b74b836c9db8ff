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


@config_cli.command("show")
@click.pass_context
def show(ctx: click.Context) -> None:
    """Print every setting in effect (defaults filled in, ${VAR}s read), secrets masked.

    Example:

        syncd --config config.yaml config show
    """
    from syncd.cli.group import settings_of
    from syncd.reload import flatten, is_live
    for key, value in sorted(flatten(settings_of(ctx)).items()):
        note = "" if is_live(key) else "  (restart to change)"
        click.echo(f"{key} = {shown_value(key, value)}{note}")


def shown_value(key: str, value) -> str:
    """A setting as `config show` prints it: URLs masked, secrets only as set / not set."""
    import json

    from syncd.config import SECRET_KEYS
    from syncd.redact import mask_url
    leaf = key.rsplit(".", 1)[-1]
    if leaf == "url" and isinstance(value, str):
        return mask_url(value) if value else "(not set)"
    if leaf in SECRET_KEYS or any(w in leaf for w in ("secret", "password", "token", "api_key")):
        return "(set)" if value else "(not set)"
    return json.dumps(value, default=str, ensure_ascii=False) if not isinstance(value, str) \
        else value

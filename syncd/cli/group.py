"""The one click group every command hangs on, and what commands share."""
from __future__ import annotations

import functools
import os
import sys

import click

from syncd import logs
from syncd.config import Settings, config_path, load_settings
from syncd.errors import ConfigError, SyncdError

PRIVATE_UMASK = 0o077          # files syncd creates are its user's only
CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


class Group(click.Group):
    """Turns every ``SyncdError`` into clear lines on stderr and exit status 2."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except ConfigError as exc:
            for problem in exc.problems:
                click.echo(problem, err=True)
            sys.exit(2)
        except SyncdError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(2)


@click.group(cls=Group, context_settings=CONTEXT)
@click.option("--config", "config_file", metavar="FILE", default=None,
              help="Config file (default: $SYNCD_CONFIG or ./config.yaml).")
@click.version_option(package_name="syncd", message="syncd %(version)s")
@click.pass_context
def main(ctx: click.Context, config_file: str | None) -> None:
    """syncd: a helpdesk that lives inside a Discourse forum.

    Example:

        syncd --config config.yaml serve
    """
    os.umask(PRIVATE_UMASK)   # the database and backups hold the webhook secret
    ctx.ensure_object(dict)
    ctx.obj["config_file"] = config_path(config_file)


def settings_of(ctx: click.Context) -> Settings:
    """Load (once) and return the settings for this invocation."""
    root = ctx.find_root()
    root.ensure_object(dict)
    if "settings" not in root.obj:
        root.obj["settings"] = load_settings(root.obj.get("config_file"))
        logs.configure(root.obj["settings"].log_format)
    return root.obj["settings"]


def with_settings(fn):
    """Decorator: pass ``settings`` as the first argument of a command."""
    @click.pass_context
    @functools.wraps(fn)
    def wrapper(ctx, *args, **kwargs):
        return ctx.invoke(fn, settings_of(ctx), *args, **kwargs)
    return wrapper

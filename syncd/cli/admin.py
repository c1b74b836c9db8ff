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

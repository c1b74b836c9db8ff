"""The ``syncd`` command line: one click group, one file a command family."""
from syncd.cli.group import main  # noqa: F401
from syncd.cli import pipeline, rules, outbox, sync  # noqa: F401,E402  (they register commands)

__all__ = ["main"]

"""The ``syncd`` command line: one click group, one file a command family.

The outermost layer: may import every other package. Nothing imports it but
``syncd/__main__.py`` and the ``syncd`` console script.
"""
from syncd.cli.group import main  # noqa: F401
from syncd.cli import deliveries, pipeline, rules, outbox, sync  # noqa: F401,E402  (register)
from syncd.cli import intake  # noqa: F401,E402  (register: syncd intake)
from syncd.cli import report  # noqa: F401,E402  (register)
from syncd.cli import importing  # noqa: F401,E402  (register)

__all__ = ["main"]

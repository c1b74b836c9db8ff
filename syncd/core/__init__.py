"""core: the pure heart of syncd. Standard library only (plus ``syncd.errors``/``syncd.clock``).

``events.py`` turns a delivery into a frozen ``Event`` (the only code that knows Discourse's
payload shapes); ``tickets.py`` is the ticket state machine (``apply``); ``drift.py`` is
reconcile's comparison of a topic-list entry with a ticket, as synthetic events; ``version.py``
parses and compares Discourse versions; ``intake.py`` checks form bodies into ticket requests
and ``teams_text.py`` reads Teams messages into them.

May import: the standard library, other ``syncd.core`` modules, ``syncd.errors``,
``syncd.clock``. Nothing else: no Flask, SQLite, requests or pydiscourse (tests/test_layering.py).
"""

"""importers: moving a whole helpdesk into Discourse (``syncd import …``).

``freshdesk/``: the Freshdesk account export (XML) and API v2 into Discourse topics, replies
and users, resumable and paced (docs/import.md).

May import: ``core``, ``store``, the ``discourse`` adapter, and the shared infrastructure
(``config``, ``errors``, ``clock``, ``logs``). Must not import: ``inbox``, ``cli``,
``processor`` or ``service`` (the CLI wires a processor in when ``--run-rules`` asks for it).
"""

"""store: SQLite, and nothing but SQLite.

``db.py`` opens the database (WAL, busy timeout, migrations, ``transaction()``);
``deliveries.py`` stores and deduplicates deliveries; ``tickets.py`` maps ticket rows to
``core.tickets.Ticket`` with their history, rule firings and outbox rows; ``echoes.py``
remembers the webhooks syncd's own changes will cause; ``similar.py`` is the FTS5 search
of resolved tickets; ``categories.py`` is the category slug ↔ id map, remembered from
config, Discourse's site categories and the payloads; ``site.py`` is the forum's version;
``intakes.py`` holds requests from Teams and forms with their topic actions, and links them
to their tickets.

May import: ``core``, the shared infrastructure. Must not import: ``inbox``, ``outbox``,
``channels``, ``discourse``, ``rules``, ``cli``.
"""

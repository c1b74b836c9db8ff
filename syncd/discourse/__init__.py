"""discourse: the adapter to a Discourse forum's REST API.

``gateway.py`` (``DiscourseGateway`` over pydiscourse: pacing, 429s, errors), ``actions.py``
(one method an outbox action kind), ``directory.py`` (staff group members, site categories
read at start into ``store.categories``), ``reader.py`` (paced reads of topic lists and topics),
``reconcile.py`` (``syncd sync`` and serve's periodic catch-up), ``categorylist.py`` (every
page of ``/categories.json``), ``editor.py`` (who edited a topic, for the processor) and
``intake.py`` (the topic of a Teams or form request: ``create_intake_topic``).

May import: ``core``, ``store``, ``outbox.pacing``, the shared infrastructure, and
``syncd.processor`` (reconcile feeds synthetic events through the same path).
Must not import: ``inbox``, ``channels``, ``cli``.
"""

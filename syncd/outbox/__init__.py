"""outbox: the durable queue of actions and the workers that drain it.

``queue.py`` claims (lease), completes, retries and buries actions (``pending → sending →
sent | dead``); ``workers.py`` dispatches a claimed action to Discourse or a channel, with
retries and idempotency; ``pacing.py`` holds the token buckets that keep each destination
under its published limit.

May import: ``core``, ``store``, ``channels``, ``discourse``, the shared infrastructure.
Must not import: ``inbox``, ``cli``.
"""

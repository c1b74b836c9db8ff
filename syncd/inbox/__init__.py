"""inbox: everything that arrives over HTTP, up to the moment it is durably stored.

Holds the Flask app (``http.py``: ``/webhooks/discourse``, ``/healthz``, ``/metrics``), the
signature check (``signature.py``), the generated webhook secret (``secret.py``) and the
group-commit writer (``writer.py``) that commits the deliveries of every request thread
together before any of them is acknowledged. Intake beyond Discourse: ``teams.py`` (``POST
/intake/teams``, Teams' HMAC), ``form.py`` (``POST /intake/form``, ``GET /intake/{id}``) and
what they share, ``intake_http.py``. The request path makes no network call.

May import: ``core``, ``store``, ``outbox`` (its counts for ``/healthz``), ``web`` (the
staff pages' blueprint, registered by the app factory), the shared
infrastructure at the top (``config``, ``errors``, ``logs``, ``metrics``, ``clock``).
Must not import: ``channels``, ``discourse``, ``cli``.
"""

"""The small exception tree every part of syncd raises.

The CLI turns a ``SyncdError`` into one line and exit status 2; the HTTP app turns it into
JSON with ``http_status``; the outbox workers sort ``TransientError`` (retry later) from
``PermanentError`` (dead at once, with the reason).
"""
from __future__ import annotations


class SyncdError(Exception):
    """Anything syncd reports to a person: the message says what to do."""

    http_status = 500


class ConfigError(SyncdError):
    """The configuration file is invalid. ``problems`` holds one ``file:line: message`` each."""

    def __init__(self, problems: list[str] | str):
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems))


class RuleError(ConfigError):
    """A rules file is invalid; same shape as ``ConfigError``."""


class SignatureError(SyncdError):
    """A webhook delivery is unsigned or signed with another secret."""

    http_status = 401


class PayloadError(SyncdError):
    """A webhook delivery is not something syncd can read (bad JSON, missing headers)."""

    http_status = 400


class PayloadTooLarge(PayloadError):
    http_status = 413


class StorageError(SyncdError):
    """The database cannot be reached or written."""

    http_status = 503


class DeliveryError(SyncdError):
    """An outgoing call (Discourse, a chat channel) failed."""


class TransientError(DeliveryError):
    """Worth trying again later: connection errors, timeouts, 429 and 5xx answers.

    ``retry_after`` is the number of seconds the other side asked us to wait, if it said.
    """

    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class LeaseLost(DeliveryError):
    """This worker's lease on an action ran out and another worker took it over: stop
    before making any further call, the other worker carries on."""


class PermanentError(DeliveryError):
    """Trying again cannot help (a 4xx other than 429): the action goes to ``dead``.

    ``status`` is the HTTP status the other side answered, if any (``/healthz`` reports a
    destination answering 401/403/404/410 as failing).
    """

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status

"""The ``echo`` channel type: a syncd plugin in a package of its own (tests only).

It follows the protocol docs/channels.md describes and imports nothing of syncd's but the
error classes: a ``CONFIG`` with its own keys, ``render``, ``send`` (a POST of the rendered
text to ``url``) and ``classify`` for the exceptions ``send`` lets out.
"""
from __future__ import annotations

from typing import Any

import requests

from syncd.errors import PermanentError, TransientError


def _word(v: Any) -> Any:
    return (isinstance(v, str) and v.strip() != "") or "a word"


class EchoNotifier:
    CONFIG = {"prefix": (_word, "echo", "put before every line it sends")}

    def __init__(self, channel: Any, settings: Any):
        self.channel, self.name = channel, channel.name
        self.prefix = channel.options["prefix"]

    def render(self, action: Any) -> dict[str, Any]:
        ticket = action.params.get("ticket") or {}
        return {"line": f"{self.prefix}: #{ticket.get('id')} {ticket.get('title')}",
                "id": action.key}

    def send(self, action: Any) -> dict[str, Any]:
        response = requests.post(self.channel.url, json=self.render(action), timeout=5)
        response.raise_for_status()   # left to classify below
        return {"echoed": response.json()}

    def classify(self, exc: BaseException) -> Exception:
        status = getattr(getattr(exc, "response", None), "status_code", None)
        if status is not None and status < 500 and status != 429:
            return PermanentError(f"channel {self.name}: the echo server refused it ({status})", status)
        return TransientError(f"channel {self.name}: echo failed ({type(exc).__name__})")

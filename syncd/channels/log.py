"""The ``log`` channel type, and every channel without a URL (dry-run): the notification
is rendered as text and written to the log instead of being sent."""
from __future__ import annotations

from typing import Any

from syncd import logs
from syncd.channels import register

log = logs.get("syncd.notify")


def summary(params: dict[str, Any]) -> str:
    """One line: ``[high] #42 Printer on fire (topic_created)``."""
    ticket = params.get("ticket") or {}
    event = (params.get("event") or {}).get("name", "")
    line = f"[{ticket.get('priority', 'normal')}] #{ticket.get('id', '?')} {ticket.get('title', '')}"
    return f"{line} ({event})" if event else line


@register("log")
class LogNotifier:
    """Writes the notification to the log; nothing leaves the machine."""

    def __init__(self, channel: Any, settings: Any = None):
        self.channel = channel
        self.name = channel.name

    def render(self, action: Any) -> dict[str, Any]:
        params = action.params
        text = params.get("text") or summary(params)
        return {"channel": self.name, "text": text, "ticket": (params.get("ticket") or {}).get("id")}

    def send(self, action: Any) -> dict[str, Any]:
        message = self.render(action)
        log.info("notification_logged", channel=self.name, text=message["text"],
                 ticket=message["ticket"])
        return {"logged": True, "text": message["text"]}

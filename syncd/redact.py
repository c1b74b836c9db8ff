"""Showing a URL without its secrets: ``https://chat.googleapis.com/v1/spaces/AAA/messages?key=***&token=***``.

Chat webhook URLs carry their key and token in the query string (Google Chat, Teams
Workflows) or in a long path segment (Slack's ``/services/T…/B…/<secret>``). ``mask_url``
keeps what an admin needs to spot a mistake (scheme, host, the first three path segments,
the query's names) and masks the rest: later segments, long or token-like ones, every
query value, a password, the fragment. Standard library only.
"""
from __future__ import annotations

from urllib.parse import urlsplit

MASK = "***"
_LONG_SEGMENT = 16          # Slack's secret is 24 characters; ids and names are shorter
_SECRETISH = set("=;:@")
_KEPT_SEGMENTS = 3          # /services/T…/B…/<secret>, /api/webhooks/<id>/<token>: the 4th on is masked


def _segment(i: int, part: str) -> str:
    if not part:
        return part
    if i > _KEPT_SEGMENTS or len(part) >= _LONG_SEGMENT or _SECRETISH & set(part):
        return MASK
    return part


def mask_url(url: str) -> str:
    """The URL with every query value, password, fragment and token-like path segment masked."""
    if not isinstance(url, str):
        return "a hidden value"
    try:
        parts = urlsplit(url.strip())
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "a hidden value"
    if not parts.scheme and not parts.netloc:
        # not a URL at all (a typo such as 'forum.example.com/x'): show its first part only
        head = url.strip().split("/", 1)
        return head[0][:60] + ("/" + MASK if len(head) > 1 else "")
    user = (parts.username + ":" + MASK + "@") if parts.password else \
        (parts.username + "@" if parts.username else "")
    path = "/".join(_segment(i, p) for i, p in enumerate(parts.path.split("/")))
    query = "&".join(f"{kv.split('=', 1)[0]}={MASK}" if "=" in kv else MASK
                     for kv in parts.query.split("&") if kv)
    out = f"{parts.scheme}://{user}{host}{port}{path}" if parts.scheme else f"{user}{host}{port}{path}"
    if query:
        out += "?" + query
    if parts.fragment:
        out += "#" + MASK
    return out

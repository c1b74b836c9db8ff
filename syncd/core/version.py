"""Discourse's version: read from a delivery's ``User-Agent`` or ``/about.json``, compared.

Discourse sends every webhook with ``User-Agent: Discourse/<Discourse::VERSION::STRING>``
(``app/jobs/regular/emit_web_hook_event.rb``), and ``/about.json`` has ``about.version``
(``AboutSerializer``, sent to everyone). Versions are semver with a pre-release
(``3.4.2``, ``3.6.0.beta1-dev``) up to 3.5, then calendar versions (``2026.2.0-latest``).
What changed by version and matters to syncd:

- ``PUT /t/-/{id}.json`` ``tags``: names (strings) before 2026.1; from 2026.1 tag objects
  ``{id, name}`` (names are deprecated ``since: "2026.01"``, ``drop_from: "2026.07"``).
  Before 2026.1 ``DiscourseTagging.tag_topic_by_names`` takes names only.

Standard library only.
"""
from __future__ import annotations

import re

_NUMBERS = re.compile(r"(\d+)\.(\d+)(?:\.(\d+))?")
TAG_OBJECTS_SINCE = (2026, 1, 0)


def parse(text: str | None) -> tuple[int, int, int] | None:
    """``"3.6.0.beta1-dev"`` → ``(3, 6, 0)``; ``"2026.2.0-latest"`` → ``(2026, 2, 0)``."""
    if not text:
        return None
    found = _NUMBERS.search(str(text))
    if not found:
        return None
    major, minor, patch = found.groups()
    return int(major), int(minor), int(patch or 0)


def from_user_agent(user_agent: str | None) -> str | None:
    """``"Discourse/3.4.2"`` → ``"3.4.2"``; anything else → None."""
    if not user_agent:
        return None
    found = re.match(r"\s*Discourse/(\S+)", user_agent)
    return found.group(1) if found and parse(found.group(1)) else None


def tag_objects(version: str | None) -> bool:
    """Send tags as objects (2026.1 and later)? Unknown versions get names, which every
    version up to 2026.06 takes."""
    numbers = parse(version)
    return numbers is not None and numbers >= TAG_OBJECTS_SINCE

"""Before the first call that creates anything: the key, the site settings, the places.

- the key must be an admin's (``GET /session/current.json`` → ``current_user.admin``):
  only an admin key may create users ``active`` and ``approved``, and it must be a global
  key ("All Users") to post as the imported users;
- the site settings an import wants (as Discourse's own ``script/import_scripts/base.rb``
  sets them): no mail while importing, duplicate titles allowed, minimum lengths down, the
  per-user rate limits off, whispers allowed for the staff group. They are listed; with
  ``--set-site-settings`` they are set, the originals saved in the database first (once,
  so a rerun after a crash keeps the true originals) and restored at the end;
- the category (``--category``, or Freshdesk groups → categories from a mapping file) and
  the staff group the agents join.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Callable

from syncd.discourse import categorylist
from syncd.errors import SyncdError
from syncd.importers.freshdesk.client import ImportClient, Refused
from syncd.importers.freshdesk.mapping import SiteLimits
from syncd.store.db import get_setting, put_setting, transaction

SAVED_KEY = "import.freshdesk.site_settings"
AUTOMATIC_GROUPS = {"everyone", "admins", "moderators", "staff", "trust_level_0",
                    "trust_level_1", "trust_level_2", "trust_level_3", "trust_level_4"}
BIG = "100000"


def _at_least(n: int) -> Callable[[str], str | None]:
    def want(current: str) -> str | None:
        try:
            return None if int(current) >= n else str(n)
        except ValueError:
            return str(n)
    return want


def _value(v: str) -> Callable[[str], str | None]:
    return lambda current: None if current == v else v


def _zero(current: str) -> str | None:
    return None if current in ("0", "") else "0"


def _with_group(*group_ids_of: Callable[[], int | None]) -> Callable[[str], str | None]:
    def want(current: str) -> str | None:
        ids = [p for p in current.split("|") if p]
        missing = [str(g) for g in (f() for f in group_ids_of) if g is not None and str(g) not in ids]
        return "|".join(ids + missing) if missing else None
    return want


@dataclass(frozen=True)
class Wanted:
    name: str
    want: Callable[[str], str | None]   # current value → the value wanted, or None if fine
    why: str


def wanted_settings(staff_group_id: Callable[[], int | None]) -> list[Wanted]:
    return [
        Wanted("disable_emails", _value("yes"), "no mail reaches imported users while importing"),
        Wanted("allow_duplicate_topic_titles", _value("true"), "helpdesk subjects repeat ('Help')"),
        Wanted("min_topic_title_length", lambda c: None if c in ("1",) else "1", "short subjects"),
        Wanted("min_first_post_length", lambda c: None if c == "1" else "1", "short descriptions"),
        Wanted("min_post_length", lambda c: None if c == "1" else "1", "short notes ('Thanks!')"),
        Wanted("body_min_entropy", _zero, "notes like 'ok ok ok'"),
        Wanted("title_min_entropy", _zero, "subjects like 'Help'"),
        Wanted("unique_posts_mins", _zero, "the same answer posted in many tickets"),
        Wanted("max_post_length", _at_least(150000), "long notes (a 5 MB note is cut anyway)"),
        Wanted("max_tags_per_topic", _at_least(8), "status, priority, source and own tags"),
        Wanted("rate_limit_create_topic", _zero, "one requester's many tickets"),
        Wanted("rate_limit_create_post", _zero, "an agent's many notes"),
        Wanted("rate_limit_new_user_create_topic", _zero, "imported users are new users"),
        Wanted("rate_limit_new_user_create_post", _zero, "imported users are new users"),
        Wanted("max_topics_per_day", _at_least(int(BIG)), "one requester's many tickets"),
        Wanted("max_replies_in_first_day", _at_least(int(BIG)), "imported users are new"),
        Wanted("max_topics_in_first_day", _at_least(int(BIG)), "imported users are new"),
        Wanted("newuser_max_replies_per_topic", _at_least(int(BIG)), "long conversations"),
        Wanted("hide_email_address_taken", _value("false"), "the user id comes back in one call"),
        Wanted("min_trust_to_create_tag", _zero, "requesters' topics carry new tags"),
        Wanted("create_tag_allowed_groups", _with_group(lambda: 0), "requesters' topics carry new tags"),
        Wanted("enable_whispers", _value("true"), "private notes become whispers"),
        Wanted("whispers_allowed_groups", _with_group(staff_group_id),
               "agents whisper private notes (and whispers are on at all)"),
    ]


def check_admin(client: ImportClient) -> dict[str, Any]:
    try:
        data = client.call("GET", "/session/current.json", missing_ok=True)
    except Refused as exc:
        raise SyncdError(f"the Discourse API key was refused: {exc}. Use an admin's global key "
                         "(Admin → API → New key, user level 'All Users').") from exc
    user = (data or {}).get("current_user") or {}
    if not user:
        raise SyncdError("the Discourse API key is not valid for DISCOURSE_API_USERNAME: check "
                         "both (an admin's global key, 'All Users').")
    if not user.get("admin"):
        raise SyncdError(f"{user.get('username')} is not an admin: the import needs an admin's "
                         "global API key (to create active, approved users and post as them).")
    return user


def site_settings(client: ImportClient) -> dict[str, str]:
    data = client.call("GET", "/admin/site_settings.json") or {}
    out = {}
    for entry in data.get("site_settings") or []:
        value = entry.get("value")
        out[entry.get("setting")] = ("true" if value else "false") if isinstance(value, bool) \
            else "" if value is None else str(value)
    return out


def differences(current: dict[str, str], wanted: list[Wanted]) -> list[tuple[Wanted, str, str]]:
    """(setting, current value, wanted value) for each setting the site has and that differs."""
    out = []
    for w in wanted:
        if w.name in current:
            value = w.want(current[w.name])
            if value is not None and value != current[w.name]:
                out.append((w, current[w.name], value))
    return out


def apply_settings(client: ImportClient, db, diffs: list[tuple[Wanted, str, str]]) -> None:
    """Save the originals (only if none are saved: a rerun keeps the first run's), then set."""
    saved = json.loads(get_setting(db, SAVED_KEY) or "{}")
    for w, current, _ in diffs:
        saved.setdefault(w.name, current)
    with transaction(db) as conn:
        put_setting(conn, SAVED_KEY, json.dumps(saved))
    for w, _, value in diffs:
        client.call("PUT", f"/admin/site_settings/{w.name}.json", json={w.name: value})


def restore_settings(client: ImportClient, db) -> list[str]:
    saved = json.loads(get_setting(db, SAVED_KEY) or "{}")
    for name, value in saved.items():
        client.call("PUT", f"/admin/site_settings/{name}.json", json={name: value})
    with transaction(db) as conn:
        conn.execute("DELETE FROM settings WHERE key = ?", (SAVED_KEY,))
    return list(saved)


def limits_from(current: dict[str, str]) -> SiteLimits:
    return SiteLimits.from_settings(current)


def categories(client: ImportClient) -> dict[str, int]:
    """Slug: id of every category, page by page (``discourse.categorylist``: one page is
    not the whole list where categories load lazily)."""
    return categorylist.pairs(lambda path, **params: client.call("GET", path, params=params))


def resolve_category(slug: str | None, known: dict[str, int]) -> int | None:
    if slug is None:
        return None
    if slug.isdigit():
        return int(slug)
    if slug not in known:
        raise SyncdError(f"Discourse has no category {slug!r}: known are "
                         f"{', '.join(sorted(known)) or '(none)'}. Create it or pass another "
                         "--category.")
    return known[slug]


def staff_group(client: ImportClient, name: str) -> int:
    if name.lower() in AUTOMATIC_GROUPS:
        raise SyncdError(f"{name!r} is one of Discourse's automatic groups: members cannot be "
                         "added. Pass --staff-group with a group of your own (e.g. support-agents).")
    data = client.call("GET", f"/groups/{name}.json", missing_ok=True)
    group = (data or {}).get("group") or {}
    if not group.get("id"):
        raise SyncdError(f"Discourse has no group {name!r} for the agents: create it (Admin → "
                         "Groups) or pass --staff-group NAME.")
    return int(group["id"])


def estimate(calls: int, per_minute: float) -> str:
    """``182,000 calls: about 51 h at 60/min, 5 h at 600/min``."""
    def hours(rate: float) -> str:
        minutes = calls / rate
        return f"{minutes / 60:.0f} h" if minutes >= 90 else f"{max(1, round(minutes))} min"
    rates = sorted({60.0, 600.0, float(per_minute)})
    parts = [f"{hours(r)} at {r:g}/min" + (" (this run)" if r == per_minute else "") for r in rates]
    return f"{calls:,} calls: about " + ", ".join(parts)


def agents_whisper(current: dict[str, str], group_id: int) -> bool:
    """Whether members of the staff group may whisper (else the API user whispers)."""
    groups = current.get("whispers_allowed_groups")
    return groups is not None and str(group_id) in groups.split("|")


def staff_whisper(current: dict[str, str]) -> bool:
    """Whether the admin API user may whisper and read whispers: ``User#whisperer?`` is
    true for admins once ``whispers_allowed_groups`` names any group (older sites:
    ``enable_whispers``)."""
    if "whispers_allowed_groups" in current:
        return any(current["whispers_allowed_groups"].split("|"))
    return current.get("enable_whispers") == "true"

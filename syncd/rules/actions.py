"""Rule actions (the ``then:`` items): small functions found by name in ``ACTIONS``.

Each action has a ``compile`` half (YAML value -> parameters, at load time: templates parsed,
channels and categories checked) and, for outgoing actions, a ``plan`` half (parameters ->
the JSON-serialisable params of an outbox row, at decide time: templates rendered). State
actions (``set_priority``, ``set_status``) change the ticket in ``decide`` instead.
The value's shape has already been checked against ``schema.json`` by the loader.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable

from syncd.clock import iso
from syncd.core.marks import mark, unmark
from syncd.rules.conditions import Invalid, LoadContext, as_list
from syncd.rules.engine import Rule
from syncd.rules.templates import Template, TemplateFailed, TemplateTooCostly, compile_template
from syncd.core.tickets import Change, Ticket

STATE_ACTIONS = ("set_priority", "set_status")
DEFAULT_SIMILAR_LIMIT = 3
SIMILAR_TEMPLATE = compile_template(
    "These resolved tickets may help:\n\n"
    "{% for t in similar %}- [{{ t.title }}]({{ t.url }})\n{% endfor %}")


class ActionFailed(Exception):
    """Planning the action broke a rendering limit: it is recorded as failed (dead) with
    this reason, never sent with a half-made text and never tried again."""


@dataclass(frozen=True)
class ActionSpec:
    compile: Callable[[Any, LoadContext], dict]
    plan: Callable[[dict, "Planning"], dict | None] | None = None   # None: a state action


@dataclass
class Planning:
    """One firing's view while its actions are planned: ticket, change, rule, context."""

    ticket: Ticket
    change: Change
    rule: Rule
    now: datetime
    ctx: Any                       # a decide.DecideContext
    notes: list[str] = field(default_factory=list)
    _similar: list[dict] | None = None

    @property
    def category(self) -> str | None:
        cid = self.ticket.category_id
        return self.ctx.categories.get(cid) if cid is not None else None

    def ticket_dict(self) -> dict[str, Any]:
        return {**self.ticket.as_dict(), "category": self.category}

    def event_dict(self) -> dict[str, Any]:
        c = self.change
        return {"name": c.name, "tag": c.tag, "old": c.old, "new": c.new,
                "at": c.at or iso(self.now), "actor": c.actor.username if c.actor else None,
                "target": c.target, "late": c.late}

    def similar(self, limit: int) -> list[dict]:
        if self._similar is None or len(self._similar) < limit:
            try:
                self._similar = list(self.ctx.similar(self.ticket, limit))
            except Exception as exc:  # the index is a nicety: never lose the event for it
                self.notes.append(f"rule {self.rule.name}: similar tickets unavailable: {exc}")
                self._similar = []
        return self._similar[:limit]

    def render(self, template: Template | None, fallback: str | None,
               similar: list[dict] | None = None, marked: bool = False) -> str | None:
        if template is None:
            return fallback
        variables = {"ticket": self.ticket_dict(), "event": self.event_dict(),
                     "rule": {"name": self.rule.name, "description": self.rule.description},
                     "similar": similar if similar is not None else (
                         self.similar(DEFAULT_SIMILAR_LIMIT) if template.uses_similar else [])}
        try:
            return template.render(variables, self.ctx.tz, marked=marked)
        except TemplateTooCostly as exc:
            raise ActionFailed(f"rule {self.rule.name}: {exc}") from None
        except TemplateFailed as exc:
            self.notes.append(f"rule {self.rule.name}: template failed ({exc}); "
                              f"{'used the fallback text' if fallback else 'action skipped'}")
            return fallback


# --- compile -----------------------------------------------------------------------------

def _template(value: Any) -> Template | None:
    if value is None:
        return None
    try:
        return compile_template(value)
    except TemplateFailed as exc:
        raise Invalid(str(exc)) from None


def _mapping(value: Any, key: str) -> dict:
    return value if isinstance(value, dict) else {key: value}


def _category(value: Any, ctx: LoadContext) -> Any:
    ctx.check_category(value)
    return value


def _channel(name: str, ctx: LoadContext) -> str:
    if ctx.channels is not None and name not in ctx.channels:
        known = ", ".join(sorted(ctx.channels)) or "none are configured"
        raise Invalid(f"unknown channel '{name}' (channels: {known})")
    return name


SUBSCRIBERS = "subscribers"   # notify: subscribers -> each staff member whose /me matches


def _c_notify(value: Any, ctx: LoadContext) -> dict:
    v = _mapping(value, "channel")
    if v["channel"] == SUBSCRIBERS:
        return {"channel": SUBSCRIBERS, "text": _template(v.get("text")),
                "as": tuple(as_list(v.get("as") or ()))}
    return {"channel": _channel(v["channel"], ctx), "text": _template(v.get("text"))}


def _c_reply(value: Any, ctx: LoadContext) -> dict:
    return {"text": _template(_mapping(value, "text")["text"])}


def _c_message(value: Any, ctx: LoadContext) -> dict:
    v = _mapping(value, "text")
    return {"title": _template(v.get("title")), "text": _template(v["text"])}


def _c_promote(value: Any, ctx: LoadContext) -> dict:
    v = _mapping(value, "category")
    return {"category": _category(v["category"], ctx), "mode": v.get("mode", "move")}


def _c_similar(value: Any, ctx: LoadContext) -> dict:
    v = value if isinstance(value, dict) else {}
    return {"limit": v.get("limit", DEFAULT_SIMILAR_LIMIT), "text": _template(v.get("text"))}


def _c_assign(value: Any, ctx: LoadContext) -> dict:
    if not isinstance(value, dict) or len(value) != 1 or not set(value) <= {"user", "group"}:
        raise Invalid("must be {user: NAME} or {group: NAME}")
    (kind, name), = value.items()
    if not isinstance(name, str) or not name.strip():
        raise Invalid(f"the {kind} to assign must be a name, not {name!r}")
    return {"type": kind, "name": name.strip()}


# --- plan --------------------------------------------------------------------------------

def _category_ref(slug: Any, p: Planning) -> dict:
    if isinstance(slug, int):
        return {"category": p.ctx.categories.get(slug), "category_id": slug}
    return {"category": slug, "category_id": p.ctx.category_ids.get(slug)}


def _p_notify(params: dict, p: Planning) -> dict:
    # text_marked: the interpolated (student) values marked, for a channel to escape them
    # for its markup (core/marks.py); text: the same without marks
    marked = p.render(params["text"], _notify_fallback(p), marked=True) if params["text"] else None
    planned = {"channel": params["channel"], "text": unmark(marked), "ticket": p.ticket_dict(),
               "event": {"name": p.change.name, "at": p.change.at or iso(p.now)},
               "private": p.ticket.private}
    if marked:
        planned["text_marked"] = marked
    if "as" in params:  # notify: subscribers: who did what, for each person's preferences
        e = p.event_dict()
        planned["event"].update(actor=e["actor"], old=e["old"], new=e["new"])
        planned["as"] = list(params["as"])
    return planned


def _notify_fallback(p: Planning) -> str:
    return f"{p.rule.name}: {p.change.name} on #{p.ticket.id} {mark(p.ticket.title)}"


def _p_reply(params: dict, p: Planning) -> dict | None:
    raw = p.render(params["text"], p.rule.description or None)
    return {"raw": raw} if raw and raw.strip() else None


def _p_message(params: dict, p: Planning) -> dict | None:
    raw = p.render(params["text"], p.rule.description or None)
    if not raw or not raw.strip() or not p.ticket.author:
        return None
    title = p.render(params["title"], None) if params["title"] else None
    title = (title or "").strip() or f"About your topic: {p.ticket.title}"[:250]
    return {"username": p.ticket.author, "title": title, "raw": raw}


def _p_move(params: dict, p: Planning) -> dict | None:
    ref = _category_ref(params["category"], p)
    here = p.ticket.category_id is not None and p.ticket.category_id == ref["category_id"]
    return None if here else ref


def _p_tags(params: dict, p: Planning, adding: bool) -> dict | None:
    have = {t.lower() for t in p.ticket.tags}   # Discourse lowercases tag names
    tags = [t.lower() for t in params["tags"] if (t.lower() not in have) == adding]
    return {"tags": tags} if tags else None


def _p_promote(params: dict, p: Planning) -> dict | None:
    if p.ticket.private:
        p.notes.append(f"rule {p.rule.name}: ticket {p.ticket.id} is private; "
                       "not promoted to the FAQ")
        return None
    return {**_category_ref(params["category"], p), "mode": params["mode"],
            "accepted_post_id": p.ticket.accepted_post_id, "private": p.ticket.private,
            "title": p.ticket.title}


def _p_similar(params: dict, p: Planning) -> dict | None:
    found = [{"id": s["id"], "title": s["title"], "url": s["url"]}
             for s in p.similar(params["limit"])]
    if not found:
        p.notes.append(f"rule {p.rule.name}: no similar resolved tickets; suggest_similar skipped")
        return None
    raw = p.render(params["text"] or SIMILAR_TEMPLATE, None, similar=found)
    return {"raw": raw, "similar": found} if raw else None


def _p_assign(params: dict, p: Planning) -> dict | None:
    t = p.ticket
    if t.assignee is not None and t.assignee.lower() == params["name"].lower() \
            and t.assignee_type == params["type"]:
        return None   # already assigned there: discourse-assign would answer "already assigned"
    return {"type": params["type"], "name": params["name"]}


ACTIONS: dict[str, ActionSpec] = {
    "set_priority": ActionSpec(lambda v, c: {"priority": v}),
    "set_status": ActionSpec(lambda v, c: {"status": v}),
    "set_visibility": ActionSpec(lambda v, c: {"visibility": v},
                                 lambda prm, p: None if p.ticket.visibility == prm["visibility"]
                                 else dict(prm)),
    "move_to_category": ActionSpec(
        lambda v, c: {"category": _category(_mapping(v, "category")["category"], c)},
        _p_move),
    "add_tags": ActionSpec(lambda v, c: {"tags": tuple(as_list(v))},
                           lambda prm, p: _p_tags(prm, p, True)),
    "remove_tags": ActionSpec(lambda v, c: {"tags": tuple(as_list(v))},
                              lambda prm, p: _p_tags(prm, p, False)),
    "reply": ActionSpec(_c_reply, _p_reply),
    "message_author": ActionSpec(_c_message, _p_message),
    "notify": ActionSpec(_c_notify, _p_notify),
    "promote_faq": ActionSpec(_c_promote, _p_promote),
    "suggest_similar": ActionSpec(_c_similar, _p_similar),
    "assign": ActionSpec(_c_assign, _p_assign),
    "unassign": ActionSpec(lambda v, c: {},
                           lambda prm, p: None if p.ticket.assignee is None else {}),
    "close_topic": ActionSpec(lambda v, c: {},
                              lambda prm, p: None if p.ticket.closed else {}),
}

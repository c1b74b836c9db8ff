"""``syncd rules test`` (dry-run one delivery through the rules) and ``syncd rules schema``.

``rules test`` needs no network and no database: it parses the delivery, applies it to the
ticket from ``--ticket`` (or to no ticket), decides, and prints what each matching rule
would do. Without a config file it runs on the defaults (channels are then not checked).
"""
from __future__ import annotations

import json
import os
from dataclasses import replace
from typing import Any

import click

from syncd.cli.group import main, settings_of
from syncd.clock import iso, parse, utcnow
from syncd.config import Settings
from syncd.errors import PayloadError, SyncdError
from syncd.core.events import Event
from syncd.replay import ROOT_TO_EVENT
from syncd.core.tickets import PRIORITIES, STATUSES, VISIBILITIES, StaffPolicy, Ticket, apply


@main.group("rules")
def rules_cli() -> None:
    """Dry-run deliveries through the rules, and print the rules schema.

    Example:

        syncd rules test --event webhooks/topic_created.json
    """


def read_event(path: str, event_name: str | None) -> Event:
    """A delivery file: ``{"headers", "body"}`` or a bare body (the event inferred)."""
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, ValueError) as exc:
        raise PayloadError(f"{path}: not a JSON file: {exc}") from None
    if isinstance(data, dict) and isinstance(data.get("headers"), dict) and "body" in data:
        headers, body = dict(data["headers"]), data["body"]
        if isinstance(body, str):
            body = json.loads(body)
    elif isinstance(data, dict) and len(data) == 1:
        root = next(iter(data))
        headers, body = {"X-Discourse-Event-Type": root,
                         "X-Discourse-Event": ROOT_TO_EVENT.get(root, root)}, data
    else:
        raise PayloadError(f"{path}: expected {{\"headers\", \"body\"}} or a body with one root "
                           "key (topic, post, like, solved)")
    if event_name:
        headers = {k: v for k, v in headers.items() if k.lower() != "x-discourse-event"}
        headers["X-Discourse-Event"] = event_name
    kind = next((v for k, v in headers.items() if k.lower() == "x-discourse-event-type"), None)
    if kind not in ROOT_TO_EVENT:
        raise PayloadError(f"{path}: syncd reads topic, post, like and solved deliveries, "
                           f"not {kind!r}")
    return Event.from_delivery(headers, body, source="test")


def read_ticket(path: str | None) -> Ticket | None:
    if not path:
        return None
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, ValueError) as exc:
        raise SyncdError(f"{path}: not a JSON file: {exc}") from None
    if isinstance(data, dict) and isinstance(data.get("ticket"), dict):
        data = data["ticket"]          # the shape `syncd ticket ID --json` prints
    if not isinstance(data, dict):
        raise SyncdError(f"{path}: a ticket is a JSON object (as `syncd tickets --json` prints)")
    problems = ticket_problems(data)
    if problems:
        raise SyncdError(f"{path}: not a ticket: " + "; ".join(problems))
    # A ticket `syncd tickets` lists has been seen whole and announced already.
    data = {"has_topic": True, "has_first_post": True, "announced": True, **data}
    try:
        return Ticket.from_dict(data)
    except TypeError as exc:
        raise SyncdError(f"{path}: not a ticket: {exc}") from None


_INTS = ("id", "category_id", "likes", "author_id", "accepted_post_id")
_STRS = ("title", "slug", "url", "author", "body", "created_at", "updated_at",
         "first_response_at", "resolved_at")
_CHOICES = {"status": STATUSES, "priority": PRIORITIES, "visibility": VISIBILITIES}


def ticket_problems(data: dict[str, Any]) -> list[str]:
    """What is wrong with a --ticket object, field by field (empty: nothing)."""
    problems = []
    for key in _INTS:
        if data.get(key) is not None and (not isinstance(data[key], int)
                                          or isinstance(data[key], bool)):
            problems.append(f"'{key}' must be a whole number, not {data[key]!r}")
    for key in _STRS:
        if data.get(key) is not None and not isinstance(data[key], str):
            problems.append(f"'{key}' must be a string, not {data[key]!r}")
    for key, choices in _CHOICES.items():
        if key in data and data[key] not in choices:
            problems.append(f"'{key}' must be one of {', '.join(choices)}, not {data[key]!r}")
    tags = data.get("tags")
    if tags is not None and not (isinstance(tags, list) and all(isinstance(t, str) for t in tags)):
        problems.append(f"'tags' must be a list of names, not {tags!r}")
    return problems


def _settings(ctx: click.Context) -> tuple[Settings, bool]:
    """The config's settings, or the defaults when there is no config file."""
    path = ctx.find_root().obj.get("config_file")
    if path and not os.path.exists(path):
        click.echo(f"note: no config file {path}: using the defaults (channels not checked)",
                   err=True)
        return Settings(), False
    return settings_of(ctx), True


def _transition(ticket: Ticket | None, event: Event, now: str, staff: StaffPolicy):
    t = apply(ticket, event, now, staff)
    if t.ticket is None or event.name != "topic_created" or t.ticket.announced:
        return t.ticket, list(t.changes), t.note
    # As the processor does once the first post's grace period is over.
    due = Event(name="announce_due", kind="timer", topic_id=t.ticket.id, category_id=None,
                occurred_at=None, source="timer")
    t2 = apply(t.ticket, due, now, staff)
    return t2.ticket, list(t.changes) + list(t2.changes), t.note


@rules_cli.command("test")
@click.option("--event", "event_file", required=True, metavar="FILE",
              type=click.Path(exists=True, dir_okay=False),
              help="A delivery: a JSON body, or {\"headers\": ..., \"body\": ...}.")
@click.option("--ticket", "ticket_file", metavar="FILE", type=click.Path(exists=True, dir_okay=False),
              help="The ticket before the event (as `syncd tickets --json` prints one).")
@click.option("--event-name", default=None, metavar="NAME",
              help="X-Discourse-Event to use (default: the file's header, or from the root key).")
@click.option("--rules", "rules_path", default=None, metavar="PATH",
              help="A rules file or folder to try instead of the config's `rules:`.")
@click.option("--now", default=None, metavar="ISO", help="Evaluate at this time (default: now).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object a line per matched rule.")
@click.pass_context
def test_cmd(ctx: click.Context, event_file: str, ticket_file: str | None,
             event_name: str | None, rules_path: str | None, now: str | None,
             as_json: bool) -> None:
    """Dry-run one delivery through the rules: which rules match, what they would do.

    Nothing is sent and no database is needed. Use it before deploying a rules change.

    Example:

        syncd rules test --event webhooks/post_liked.json --ticket ticket.json --json
    """
    from syncd.rules import DecideContext, decide, load_rules
    settings, has_config = _settings(ctx)
    moment = parse(now) if now else utcnow()
    known = _remembered_categories(settings)
    event = read_event(event_file, event_name)
    ruleset = load_rules(rules_path or settings.resolve(settings.rules),
                         list(settings.channels) if has_config else None, known)
    for warning in ruleset.warnings:
        click.echo(f"warning: {warning}", err=True)
    cmap = dict(known)  # for deciding, the delivery's own slug helps too (not for checking)
    if event.post is not None and event.post.category_slug and event.post.category_id:
        cmap.setdefault(event.post.category_slug, event.post.category_id)
    staff = StaffPolicy(groups=frozenset(settings.discourse.staff_groups))
    ticket, changes, note = _transition(read_ticket(ticket_file), event, iso(moment), staff)
    if ticket is None:
        click.echo(f"no ticket: {note or 'the event does not make or touch a ticket'}", err=True)
        return
    base = settings.discourse.url or event.instance
    if base and ticket.url is None:
        ticket = replace(ticket, url=f"{base.rstrip('/')}/t/{ticket.slug or 'topic'}/{ticket.id}")
    dctx = DecideContext(tz=settings.tz, categories={i: s for s, i in cmap.items()},
                         category_ids=cmap, similar=lambda t, limit: [],
                         budget_left=settings.processor.actions_per_ticket_per_hour,
                         staff_groups=tuple(settings.discourse.staff_groups))
    decision = decide(ruleset, ticket, changes, moment, dctx)
    _print(decision, ruleset, as_json, note)
    outside = _outside_ticket_categories(settings, cmap, read_ticket(ticket_file), event)
    if outside:
        click.echo(f"note: syncd serve would ignore this delivery: {outside}", err=True)


def _remembered_categories(settings) -> dict[str, int]:
    """config's category_map, over what syncd remembered from Discourse (if it has run)."""
    cmap = dict(settings.discourse.category_map)
    path = settings.resolve(settings.database)
    if not os.path.exists(path):
        return cmap
    from syncd.store import categories
    from syncd.store.db import open_db
    return dict(categories.load(open_db(path, migrate_now=False).conn, cmap).by_slug)


def _outside_ticket_categories(settings, cmap, ticket, event) -> str | None:
    """Why the receiver would not take this delivery (a topic outside the ticket
    categories that is not a ticket yet), or None."""
    from syncd.store.categories import CategoryMap
    ids, _ = CategoryMap(cmap).ticket_ids(settings.discourse.categories)
    if ids is None or ticket is not None or event.category_id in ids:
        return None
    return f"category {event.category_id} is not a ticket category (discourse.categories)"


def _grouped(decision) -> list[tuple[Any, list]]:
    """Each firing with its planned actions (they were planned in firing order)."""
    actions, i, out = list(decision.actions), 0, []
    for firing in decision.firings:
        mine = []
        while i < len(actions) and actions[i].rule == firing.rule_name \
                and actions[i].event == firing.event_name:
            mine.append(actions[i])
            i += 1
        out.append((firing, mine))
    return out


def _print(decision, ruleset, as_json: bool, note: str) -> None:
    for firing, planned in _grouped(decision):
        rule = ruleset.named(firing.rule_name)
        state = [{"kind": a.kind, "params": dict(a.params)} for a in firing.actions
                 if a.kind in ("set_priority", "set_status")]
        acts = state + [{"kind": a.kind, "params": a.params} for a in planned]
        if as_json:
            click.echo(json.dumps({"rule": firing.rule_name, "event": firing.event_name,
                                   "where": rule.where if rule else None, "actions": acts},
                                  ensure_ascii=False, default=str))
            continue
        click.echo(f"rule {firing.rule_name}  (on {firing.event_name}, "
                   f"{rule.where if rule else '?'})")
        for a in acts:
            click.echo(f"  {a['kind']}: {_summary(a['kind'], a['params'])}")
    if not as_json:
        t = decision.ticket
        if not decision.firings:
            click.echo("no rule matched")
        click.echo(f"changes: {', '.join(c.name for c in decision.changes) or 'none'}")
        click.echo(f"ticket #{t.id} {t.title!r}: status {t.status}, priority {t.priority}, "
                   f"{t.visibility}, likes {t.likes}, tags {', '.join(t.tags) or '-'}")
    for line in ([note] if note else []) + list(decision.notes):
        click.echo(f"note: {line}", err=True)


def _summary(kind: str, params: dict) -> str:
    if kind == "notify":
        return f"{params['channel']}: {params['text'] or '(card only)'}"
    if kind in ("reply", "message_author", "suggest_similar"):
        return params["raw"].replace("\n", "\n    ")
    shown = {k: v for k, v in params.items() if k not in ("ticket",)}
    return json.dumps(shown, ensure_ascii=False)


@rules_cli.command("schema")
def schema_cmd() -> None:
    """Print the JSON Schema of rules files (for editors and CI checks).

    Example:

        syncd rules schema > rules.schema.json
    """
    from syncd.rules import schema
    click.echo(json.dumps(schema(), indent=2))

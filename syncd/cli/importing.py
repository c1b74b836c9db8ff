"""``syncd import freshdesk``: a Freshdesk account export into Discourse; ``syncd import
status``: how far it got (from the database, also while it runs)."""
from __future__ import annotations

import json
import os
import signal
import sys
import time
from collections import deque
from dataclasses import replace
from pathlib import Path

import click
import yaml

from syncd.cli.group import main, with_settings
from syncd.config import Settings
from syncd.errors import SyncdError

SOURCE = "freshdesk"
PLAIN_EVERY = 30.0          # seconds between progress lines when stdout is not a terminal


@main.group("import")
def import_group() -> None:
    """Move a helpdesk into Discourse: users, tickets and notes, resumable.

    Example:

        syncd import freshdesk --export ./freshdesk-export --category support
    """


@import_group.command("freshdesk")
@click.option("--export", "export_dir", required=True, metavar="DIR",
              type=click.Path(exists=True, file_okay=False),
              help="The unzipped account export (Users*.xml, Tickets*.xml, …).")
@click.option("--freshdesk-url", metavar="URL", default=None,
              help="https://ACCOUNT.freshdesk.com: catch up on tickets changed after the export "
                   "(API v2; the key in FRESHDESK_API_KEY).")
@click.option("--category", metavar="SLUG", default=None,
              help="The category the topics go to (default: the first of discourse.categories).")
@click.option("--category-map", metavar="FILE", type=click.Path(exists=True, dir_okay=False),
              default=None, help="YAML: Freshdesk group name or id → category slug.")
@click.option("--staff-group", metavar="NAME", default=None,
              help="The Discourse group agents join (default: the first of "
                   "discourse.staff_groups that is not an automatic group).")
@click.option("--dry-run", is_flag=True, help="Read and map everything; call nothing.")
@click.option("--run-rules", is_flag=True, help="Run the rules on imported tickets (off: no pings).")
@click.option("--set-site-settings", is_flag=True,
              help="Set the site settings an import wants, and restore them at the end.")
@click.option("--calls-per-minute", type=click.FloatRange(min=1), default=None,
              help="The site's admin-API budget (default: discourse.api_calls_per_minute).")
@click.option("--workers", type=click.IntRange(1, 32), default=4, show_default=True,
              help="Calls in flight at once (all within the one budget).")
@with_settings
def freshdesk(settings: Settings, export_dir: str, freshdesk_url: str | None,
              category: str | None, category_map: str | None, staff_group: str | None,
              dry_run: bool, run_rules: bool, set_site_settings: bool,
              calls_per_minute: float | None, workers: int) -> None:
    """Import a Freshdesk account export: users, tickets (topics) and notes (replies).

    Users become active, approved forum users (no mail is sent), agents also join the
    staff group; each ticket becomes a topic with external_id fd-<id>, its created_at,
    tags for status, priority and source, and its notes become replies in order (private
    notes as whispers); resolved and closed tickets are closed at the end. Each topic is
    also a syncd ticket (no rules run unless --run-rules).

    The same command again resumes: nothing is created twice. Progress: syncd import status.

    Example:

    \b
        syncd import freshdesk --export ./export --category support --set-site-settings
    """
    from syncd.importers.freshdesk.reader import ExportReader
    from syncd.importers.freshdesk import mapping

    groups_to_slugs = _read_category_map(category_map)
    category = category or (settings.discourse.categories[0] if settings.discourse.categories else None)
    if dry_run:
        from syncd.importers.freshdesk.dryrun import dry_run as run_dry
        reader = ExportReader(export_dir, lambda p: click.echo(f"problem: {p}"))
        names = reader.named("groups", "group")
        where = lambda gid: groups_to_slugs.get(names.get(gid or "", ""), groups_to_slugs.get(  # noqa: E731
            gid or "", category or "(no category)"))
        would = run_dry(reader, mapping.SiteLimits(), where, click.echo)
        calls = would["users"] + would["topics"] + would["posts"]
        from syncd.importers.freshdesk.preflight import estimate
        click.echo(f"dry run: would create {would['users']} users ({would['agents']} agents), "
                   f"{would['topics']} topics, {would['posts']} replies ({would['whispers']} "
                   f"whispers), close {would['closed']}; skip {would['skipped']} tickets; "
                   f"{would['problems']} problems")
        click.echo(estimate(calls, calls_per_minute or settings.discourse.api_calls_per_minute))
        return
    before = signal.signal(signal.SIGTERM, _interrupt)   # a service manager's stop: as Ctrl-C
    try:
        _import(settings, export_dir, freshdesk_url, category, groups_to_slugs, staff_group,
                run_rules, set_site_settings, calls_per_minute, workers)
    except KeyboardInterrupt:
        raise SyncdError("interrupted before the first user or topic was sent; run the "
                         "same command again to resume") from None
    finally:
        signal.signal(signal.SIGTERM, before)


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def _read_category_map(path: str | None) -> dict[str, str]:
    if not path:
        return {}
    try:
        data = yaml.safe_load(Path(path).read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise SyncdError(f"{path}: cannot read the category map: {exc}") from exc
    if not isinstance(data, dict) or not all(isinstance(v, (str, int)) for v in data.values()):
        raise SyncdError(f"{path}: the category map must be 'Freshdesk group name or id: slug' pairs")
    return {str(k): str(v) for k, v in data.items()}


def _import(settings, export_dir, freshdesk_url, category, groups_to_slugs, staff_group,
            run_rules, set_site_settings, calls_per_minute, workers) -> None:
    from syncd.importers.freshdesk.client import ImportClient, Pacer
    from syncd.store import imports
    from syncd.store.db import Store, transaction

    d = settings.discourse
    if d.dry_run:
        raise SyncdError("discourse.url is not set: there is no forum to import into. Set "
                         "DISCOURSE_URL and DISCOURSE_API_KEY, or use --dry-run.")
    store = Store(settings.resolve(settings.database), settings.database_synchronous)
    rate = calls_per_minute or d.api_calls_per_minute
    client = ImportClient(d.url, d.api_key, d.api_username, Pacer(rate),
                          timeout=max(30.0, d.timeout_seconds))
    db = store.db()
    with transaction(db) as conn:      # one import at a time: a second would race the first
        other = imports.running(conn, _alive)
        if other is None:
            run_id = imports.start_run(conn, str(Path(export_dir).resolve()), rate, 0)
    if other is not None:
        raise SyncdError(f"an import is already running (pid {other['pid']}, started "
                         f"{other['started_at']}): see syncd import status; stop it first")
    try:
        _run(settings, store, db, client, run_id, export_dir, freshdesk_url, category,
             groups_to_slugs, staff_group, run_rules, set_site_settings, rate, workers)
    except (SyncdError, KeyboardInterrupt) as exc:
        with transaction(db) as conn:   # before the job began: the run row says why it ended
            if imports.latest_run(conn)["status"] == "running":
                imports.update_run(conn, run_id, status="failed", message=str(exc) or "interrupted")
        raise


def _run(settings, store, db, client, run_id, export_dir, freshdesk_url, category,
         groups_to_slugs, staff_group, run_rules, set_site_settings, rate, workers) -> None:
    from syncd.importers.freshdesk import preflight
    from syncd.importers.freshdesk.reader import ExportReader
    from syncd.importers.freshdesk.runner import FreshdeskImport, ImportAborted
    from syncd.store import imports
    from syncd.store.db import transaction

    d = settings.discourse

    def on_problem(problem) -> None:
        with transaction(store.db()) as conn:
            imports.add_problem(conn, problem.file, problem.record, problem.message, problem.severity)

    reader = ExportReader(export_dir, on_problem)
    plan = _preflight(client, reader, db, d, category, groups_to_slugs, staff_group,
                      set_site_settings)
    total, done = _announce(reader, db, rate)
    sink = _rules_sink(settings, store) if run_rules else None
    from syncd.importers.freshdesk.attachments import AttachmentUploader
    api = _freshdesk_api(freshdesk_url, store) if freshdesk_url else None
    uploader = AttachmentUploader(store, client, api.fresh_attachments if api else None)
    job = FreshdeskImport(store, client, reader, plan, workers=workers, sink=sink,
                          catch_up=api.changed_tickets if api else None, uploader=uploader,
                          fetch_user=api.user if api else None)
    with transaction(db) as conn:
        imports.update_run(conn, run_id, total_items=total)
    progress = _Progress(store, run_id, job, client, total, done)
    status, message = "done", None
    try:
        job.run(on_tick=progress.tick)
    except KeyboardInterrupt:
        job.cancel()
        status, message = "interrupted", "interrupted (Ctrl-C)"
    except (ImportAborted, SyncdError) as exc:
        status, message = "failed", str(exc)
    finally:
        progress.finish(status, message)
    if status == "done" and set_site_settings:
        try:
            restored = preflight.restore_settings(client, db)
        except SyncdError as exc:
            status, message = "failed", f"the site settings could not be restored: {exc}"
        else:
            if restored:
                click.echo(f"site settings restored: {', '.join(restored)}")
    _summary(store, job, client)
    from syncd import logs
    logs.get("syncd.importers").info(
        "import_finished", status=status, calls=client.calls, rate_limited=client.rate_limited,
        created=dict(job.tally.created), failed=dict(job.tally.failed))
    if status != "done":
        raise SyncdError(f"{message}. Progress is saved: run the same command again to resume"
                         + (". The site settings stay set for the import until it finishes "
                            "(or: syncd import restore-settings)." if set_site_settings else "."))


def _preflight(client, reader, db, d, category, groups_to_slugs, staff_group,
               set_site_settings):
    """The key, the staff group, the site settings (listed; set with --set-site-settings),
    the categories: the ``Plan`` of the run."""
    from syncd.importers.freshdesk import preflight
    from syncd.importers.freshdesk.runner import Plan
    from syncd.store import categories as category_store
    from syncd.store.db import transaction

    preflight.check_admin(client)
    group_name = staff_group or next((g for g in d.staff_groups
                                      if g.lower() not in preflight.AUTOMATIC_GROUPS), None)
    if group_name is None:
        raise SyncdError("no group for the agents: pass --staff-group NAME (a group of your own; "
                         "Discourse's automatic groups take no members).")
    group_id = preflight.staff_group(client, group_name)
    current = preflight.site_settings(client)
    diffs = preflight.differences(current, preflight.wanted_settings(lambda: group_id))
    if diffs:
        verb = "setting" if set_site_settings else "the import wants (use --set-site-settings)"
        click.echo(f"site settings {verb}:")
        for w, now, want in diffs:
            click.echo(f"  {w.name}: {now!r} → {want!r}  ({w.why})")
    if set_site_settings and diffs:
        preflight.apply_settings(client, db, diffs)
        current = {**current, **{w.name: want for w, _, want in diffs}}
    known = preflight.categories(client)
    with transaction(db) as conn:    # the processor (--run-rules) and `syncd tickets` know them
        category_store.remember(conn, known, "discourse")
    group_categories = {}
    for gid, gname in reader.named("groups", "group").items():
        slug = groups_to_slugs.get(gname) or groups_to_slugs.get(gid)
        if slug:
            group_categories[gid] = preflight.resolve_category(slug, known)
    plan = Plan(limits=preflight.limits_from(current), staff_group=group_name,
                staff_group_id=group_id, category_id=preflight.resolve_category(category, known),
                base_url=d.url.rstrip("/"), group_categories=group_categories,
                agents_whisper=preflight.agents_whisper(current, group_id))
    if not preflight.staff_whisper(current):
        click.echo("warning: whispers are off (whispers_allowed_groups is empty): private notes "
                   "will fail. Name the agents' group there, or use --set-site-settings.")
    elif not plan.agents_whisper:
        click.echo(f"private notes: whispered by {d.api_username} with the agent named (the group "
                   f"{group_name} is not in whispers_allowed_groups)")
    return plan


def _announce(reader, db, rate: float) -> tuple[int, int]:
    """What the export holds, what is done, and the estimate: (items in it, done before)."""
    from syncd.importers.freshdesk import preflight
    from syncd.store import imports

    counts = reader.count()
    total = counts["users"] + counts["tickets"] + counts["notes"]
    states = imports.counts(db.conn)
    done = sum(n for kind in ("user", "topic", "post") for state, n in states.get(kind, {}).items()
               if state in ("done", "skipped", "alias"))
    groups = len(reader.named("groups", "group"))
    companies = len(reader.named("companies", ("company", "customer")))
    click.echo(f"export: {counts['users']:,} users, {counts['tickets']:,} tickets, "
               f"{counts['notes']:,} notes, {counts['attachments']:,} attachments, {groups} "
               f"groups, {companies} companies (not mapped); {done:,} items done before")
    todo = max(0, total - done) + max(0, counts["attachments"] - states.get("upload", {}).get("done", 0))
    click.echo(preflight.estimate(todo + todo // 1000 + 10, rate))
    return total, done


class _Progress:
    """A bar on a terminal, a line every ``PLAIN_EVERY`` seconds otherwise; the run's row
    in the database (what ``syncd import status`` reads) every tick."""

    def __init__(self, store, run_id, job, client, total: int, done_before: int):
        self.store, self.run_id, self.job, self.client = store, run_id, job, client
        self.total, self.before = total, done_before
        self.tty = sys.stdout.isatty()
        self.started = time.monotonic()
        self.last_line = 0.0
        self.samples: deque = deque(maxlen=120)   # (time, calls, items): the last minute or two

    def tick(self) -> None:
        from syncd.store import imports
        from syncd.store.db import transaction
        with transaction(self.store.db()) as conn:
            imports.update_run(conn, self.run_id, phase=self.job.phase, calls=self.client.calls,
                               rate_limited=self.client.rate_limited)
        done = min(self.total, self.before + self.job.tally.processed)
        now = time.monotonic()
        self.samples.append((now, self.client.calls, self.job.tally.processed))
        then, calls, items = self.samples[0]
        span = now - then
        rate = (self.client.calls - calls) / span * 60 if span > 0.5 else 0.0
        speed = (self.job.tally.processed - items) / span if span > 0.5 else 0.0
        left = (self.total - done) / speed if speed > 0 else float("nan")
        text = (f"{self.job.phase}: {done:,}/{self.total:,} items · {rate:.0f} calls/min · "
                f"{_duration(left)} left")
        if self.tty:
            width = 30
            filled = int(width * done / max(1, self.total))
            click.echo(f"\r[{'#' * filled}{'-' * (width - filled)}] {text}   ", nl=False)
        elif time.monotonic() - self.last_line >= PLAIN_EVERY:
            self.last_line = time.monotonic()
            click.echo(text)

    def finish(self, status: str, message: str | None) -> None:
        from syncd.clock import iso
        from syncd.store import imports
        from syncd.store.db import transaction
        if self.tty:
            click.echo("")
        with transaction(self.store.db()) as conn:
            imports.update_run(conn, self.run_id, status=status, message=message,
                               phase=self.job.phase, calls=self.client.calls,
                               rate_limited=self.client.rate_limited, finished_at=iso())


def _duration(seconds: float) -> str:
    if seconds != seconds or seconds > 1e8:
        return "?"
    if seconds >= 5400:
        return f"{seconds / 3600:.1f} h"
    if seconds >= 90:
        return f"{seconds / 60:.0f} min"
    return f"{seconds:.0f} s"


def _summary(store, job, client) -> None:
    t = job.tally
    kinds = ("user", "topic", "post", "upload", "member", "close")
    line = lambda c: ", ".join(f"{c[k]} {k}s" for k in kinds if c[k]) or "none"  # noqa: E731
    click.echo(f"created: {line(t.created)}")
    if sum(t.found.values()):
        click.echo(f"found (in flight when a run stopped, not created again): {line(t.found)}")
    click.echo(f"skipped (done before, or not importable): {line(t.skipped)}")
    click.echo(f"failed: {line(t.failed)}")
    for reason, n in t.reasons.most_common(10):
        click.echo(f"  {n} × {reason}")
    use = client.budget_use()
    items = sum(t.created[k] for k in ("user", "topic", "post")) + sum(t.found.values())
    per_item = f"{client.calls / items:.2f}" if items else "-"
    click.echo(f"calls: {client.calls:,} ({per_item} an item), {client.rate_limited} answered 429"
               + (f", budget used {use:.0%}" if use else ""))
    from syncd.store import imports
    total, _ = imports.problems(store.db().conn, limit=0)
    if total:
        click.echo(f"{total} problems in the input: syncd import status --problems")


def _rules_sink(settings, store):
    """Imported topics through the processor (rules run), then the Freshdesk state on top."""
    from syncd.importers.freshdesk.events import import_events
    from syncd.importers.freshdesk.runner import save_ticket_quietly
    from syncd.processor import Processor
    from syncd.service import load_rules_holder
    from syncd.store import similar
    from syncd.store import tickets as ticketstore

    processor = Processor(settings, store, load_rules_holder(settings, store), similar)

    def sink(conn, ticket, fd, call) -> None:
        for event in import_events(ticket):
            processor.process_event(conn, event, None)
        after = ticketstore.load(conn, ticket.id)
        if after is None:         # not a ticket category: kept anyway, quietly
            save_ticket_quietly(conn, ticket, fd, call)
            return
        ticketstore.save(conn, replace(
            after, stage=ticket.stage, closed=ticket.closed, resolved_at=ticket.resolved_at,
            first_response_at=ticket.first_response_at, created_at=ticket.created_at,
            priority=after.priority if after.priority != "normal" else ticket.priority))
    return sink


def _freshdesk_api(url: str, store):
    from syncd.importers.freshdesk.api import FreshdeskApi
    key = os.environ.get("FRESHDESK_API_KEY", "")
    if not key:
        raise SyncdError("--freshdesk-url needs the API key in FRESHDESK_API_KEY (Freshdesk: "
                         "Profile settings → Your API key).")
    return FreshdeskApi(url, key, store)


@import_group.command("restore-settings")
@click.option("--calls-per-minute", type=click.FloatRange(min=1), default=None,
              help="The site's admin-API budget (default: discourse.api_calls_per_minute).")
@with_settings
def restore_settings(settings: Settings, calls_per_minute: float | None) -> None:
    """Put back the site settings --set-site-settings changed (an import that will not be
    finished; a finished one restores them itself).

    Example:

        syncd import restore-settings
    """
    from syncd.importers.freshdesk import preflight
    from syncd.importers.freshdesk.client import ImportClient, Pacer
    from syncd.store.db import Store
    d = settings.discourse
    if d.dry_run:
        raise SyncdError("discourse.url is not set: there is no forum to restore settings in.")
    store = Store(settings.resolve(settings.database), settings.database_synchronous)
    client = ImportClient(d.url, d.api_key, d.api_username,
                          Pacer(calls_per_minute or d.api_calls_per_minute))
    restored = preflight.restore_settings(client, store.db())
    click.echo(f"restored: {', '.join(restored)}" if restored else "nothing to restore")


@import_group.command("status")
@click.option("--json", "as_json", is_flag=True, help="One JSON object.")
@click.option("--problems", "show_problems", is_flag=True, help="List the problems found.")
@with_settings
def status(settings: Settings, as_json: bool, show_problems: bool) -> None:
    """How far the import got: items by state, calls, rate, time left, problems.

    Read from the database, so it works while an import runs in another terminal.

    Example:

        syncd import status
    """
    from syncd.store import imports
    from syncd.store.db import open_db
    db = open_db(settings.resolve(settings.database), settings.database_synchronous)
    run = imports.latest_run(db.conn)
    counts = imports.counts(db.conn)
    total_problems, problems = imports.problems(db.conn, limit=1000 if show_problems else 0)
    failures = imports.failures(db.conn)
    report = {"run": run, "items": counts, "problems": total_problems, "failures": failures}
    if run:
        report["running"] = run["status"] == "running" and _alive(run["pid"])
    if as_json:
        click.echo(json.dumps(report, default=str))
        return
    if run is None:
        click.echo("no import has run yet: syncd import freshdesk --export DIR")
        return
    state = "running" if report["running"] else (
        "stopped (the process is gone)" if run["status"] == "running" else run["status"])
    click.echo(f"import of {run['export_dir']}: {state}, phase {run['phase']}, started "
               f"{run['started_at']}" + (f": {run['message']}" if run.get("message") else ""))
    items = sum(n for k, c in counts.items() if k in ("user", "topic", "post")
                for s, n in c.items() if s in ("done", "skipped", "alias"))
    click.echo(f"items: {items:,} of {run['total_items']:,} done or skipped")
    for kind in ("user", "topic", "post", "member", "close"):
        if kind in counts:
            states = ", ".join(f"{n:,} {s}" for s, n in sorted(counts[kind].items()))
            click.echo(f"  {kind + 's':<8} {states}")
    from syncd.clock import parse
    elapsed = (parse(run["updated_at"]) - parse(run["started_at"])).total_seconds()
    rate = run["calls"] / elapsed * 60 if elapsed > 0 else 0.0
    left = max(0, run["total_items"] - items)
    eta = f", about {_duration(left / (rate / 60))} left" if rate and report["running"] else ""
    click.echo(f"calls: {run['calls']:,} this run ({rate:.0f}/min of {run['per_minute']:g}), "
               f"{run['rate_limited']} answered 429{eta}")
    for f in failures[:10]:
        click.echo(f"  failed {f['kind']} {f['source_id']}: {f['reason']}")
    click.echo(f"problems in the input: {total_problems}" + ("" if show_problems or not total_problems
                                                             else " (--problems lists them)"))
    for p in problems:
        click.echo(f"  {p['severity']}: {p['file']}: {p['record']}: {p['message']}")


def _alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(int(pid), 0)
        return True
    except (OSError, ValueError):
        return False

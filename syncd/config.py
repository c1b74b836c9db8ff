"""Configuration: YAML → environment interpolation → validation → frozen ``Settings``.

Every problem is reported at once as ``file:line: message``; ``load_settings`` raises
``ConfigError`` with all of them. The schema below is the single list of keys.
"""
from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from syncd import yamlsrc
from syncd.core.intervals import ACCEPTED, parse_interval
from syncd.redact import mask_url
from syncd.errors import ConfigError

DEFAULT_PATH = "config.yaml"


@dataclass(frozen=True)
class ServerSettings:
    host: str = "127.0.0.1"
    port: int = 8080
    threads: int = 8
    max_body_bytes: int = 1024 * 1024
    trusted_proxies: tuple[str, ...] = ()
    connection_limit: int = 100
    channel_timeout: int = 120
    ingest_in_loop: bool = True


@dataclass(frozen=True)
class DiscourseSettings:
    url: str = ""
    api_key: str = ""
    api_username: str = "system"
    webhook_secret: str = ""
    categories: tuple[str | int, ...] = ("support",)
    category_map: Mapping[str, int] = field(default_factory=dict)
    staff_groups: tuple[str, ...] = ("staff",)
    timeout_seconds: float = 15.0
    api_calls_per_minute: int = 60
    delivery_share: float = 0.5
    reconcile_share: float = 0.3

    @property
    def dry_run(self) -> bool:
        return not self.url


@dataclass(frozen=True)
class ChannelSettings:
    name: str
    type: str = "gchat"
    url: str = ""
    messages_per_minute: int = 60
    options: Mapping[str, Any] = field(default_factory=dict)  # the type's own keys (its CONFIG)
    configured: bool | None = None     # from the type's is_configured; None: a url is set
    quiet_hours: Any = None        # {calendar: NAME}: non-urgent notifications wait for opening
    digest: Any = None             # {below, at, calendar}: low ones go out together at set times

    @property
    def dry_run(self) -> bool:
        if self.type == "log":
            return False
        return not self.url if self.configured is None else not self.configured


@dataclass(frozen=True)
class ProcessorSettings:
    first_post_grace_seconds: float = 30.0
    announce_within_hours: float = 24.0
    actions_per_ticket_per_hour: int = 30


@dataclass(frozen=True)
class OutboxSettings:
    workers: int = 2
    lease_seconds: float = 120.0
    max_attempts: int = 0          # 0: retry until delivered (the contract); N: dead after N
    max_backoff_seconds: float = 3600.0


@dataclass(frozen=True)
class ReconcileSettings:
    interval_minutes: float = 10.0
    full_every_hours: float = 24.0
    on_start: bool = True
    page_size: int = 30


@dataclass(frozen=True)
class BackupSettings:
    dir: str = ""                  # empty: no scheduled backups
    every: str = "24h"
    keep: int = 7

    @property
    def every_seconds(self) -> float:
        from syncd.core.intervals import parse_interval
        return parse_interval(self.every)


@dataclass(frozen=True)
class WebSettings:
    base_url: str = ""
    discourse_connect_secret: str = ""
    session_hours: float = 12.0
    login_minutes: float = 10.0
    chat_webhook_hosts: tuple[str, ...] = ("chat.googleapis.com",)
    smtp_host: str = ""
    smtp_port: int = 587
    smtp_starttls: bool = True
    smtp_username: str = ""
    smtp_password: str = ""
    email_from: str = ""

    @property
    def secure_cookies(self) -> bool:
        return self.base_url.startswith("https://")


@dataclass(frozen=True)
class IntakeSettings:
    """Tickets asked for outside Discourse: a Teams outgoing webhook and a form (docs/intake.md)."""

    teams_security_token: str = ""
    form_token: str = ""
    category: str | int = ""          # "": the first of discourse.categories
    categories_by_priority: Mapping[str, str | int] = field(default_factory=dict)
    min_title_length: int = 15

    def default_category(self, ticket_categories: tuple[str | int, ...]) -> str | int | None:
        if self.category not in ("", None):
            return self.category
        return ticket_categories[0] if ticket_categories else None


@dataclass(frozen=True)
class Settings:
    path: str = DEFAULT_PATH
    timezone: str = "UTC"
    database: str = "./data/syncd.db"
    database_synchronous: str = "full"
    rules: str = "./rules"
    log_format: str = "auto"
    server: ServerSettings = ServerSettings()
    discourse: DiscourseSettings = DiscourseSettings()
    channels: Mapping[str, ChannelSettings] = field(default_factory=dict)
    processor: ProcessorSettings = ProcessorSettings()
    outbox: OutboxSettings = OutboxSettings()
    reconcile: ReconcileSettings = ReconcileSettings()
    backup: BackupSettings = BackupSettings()
    web: WebSettings = WebSettings()
    intake: IntakeSettings = IntakeSettings()
    calendars: Mapping[str, Any] = field(default_factory=dict)   # name -> core.calendar.Calendar
    slas: tuple = ()                                             # core.sla.Policy, in order
    holds: Mapping[str, Any] = field(default_factory=dict)       # channel -> core.holds.Hold
    warnings: tuple[str, ...] = field(default=(), compare=False)   # file:line: … (YAML traps)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def resolve(self, relative: str) -> str:
        """A path in the config, taken relative to the config file's folder."""
        if relative == ":memory:" or os.path.isabs(relative):
            return relative
        return str((Path(self.path).resolve().parent / relative))


# --- the schema: key -> (check, default); a dict value is a nested section ------------------

def _str(v): return isinstance(v, str) or "a string"
def _url(v):
    if not isinstance(v, str):
        return "a string"
    return v == "" or v.startswith(("http://", "https://")) or "an http(s) URL, or empty"
def _port(v): return (isinstance(v, int) and not isinstance(v, bool) and 0 <= v < 65536) or "a port number"
def _pos_int(v): return (isinstance(v, int) and not isinstance(v, bool) and v > 0) or "a whole number above 0"
def _pos_num(v):
    return (isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0) or "a number above 0"
def _hours(v):
    return (isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0) \
        or "a number of hours (0: never)"
def _share(v): return (isinstance(v, (int, float)) and 0 < v <= 1) or "a fraction between 0 and 1"
def _bool(v): return isinstance(v, bool) or "true or false"
def _count(v):
    return (isinstance(v, int) and not isinstance(v, bool) and v >= 0) \
        or "a whole number, 0 or more (0: no limit)"
def _choice(*options):
    return lambda v: v in options or "one of " + ", ".join(options)
def _list_of(check):
    def inner(v):
        if not isinstance(v, list):
            return "a list"
        bad = [x for x in v if check(x) is not True]
        return not bad or f"a list whose items are {check(bad[0])}"
    return inner
def _slug_or_id(v): return (isinstance(v, (str, int)) and not isinstance(v, bool)) or "a slug or an id"
def _secret(v):
    if not isinstance(v, str):
        return "a string"
    return v == "" or len(v) >= 12 or "at least 12 characters (Discourse's minimum), or empty to generate one"
def _connect_secret(v):
    if not isinstance(v, str):
        return "a string"
    if "|" in v or "\n" in v:
        return "a secret without '|' or line breaks (Discourse splits its setting on them)"
    return v == "" or len(v) >= 16 or "at least 16 characters, or empty (no sign-in)"
def _tz(v):
    try:
        ZoneInfo(v)
        return True
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        return "an IANA time zone such as Asia/Kolkata or UTC"
def _ip_network(v):
    try:
        ipaddress.ip_network(str(v), strict=False)
        return True
    except ValueError:
        return "an IP address or network such as 10.0.0.0/8"
def _interval(v):
    try:
        parse_interval(v)
        return True
    except ValueError:
        return ACCEPTED
def _teams_token(v):
    import base64
    import binascii
    if not isinstance(v, str):
        return "a string"
    try:   # several webhooks (one per team): their tokens separated by commas
        return v == "" or all(len(base64.b64decode(t.strip(), validate=True)) >= 16
                              for t in v.split(",")) or \
            "the security token Teams showed (base64), or empty"
    except (binascii.Error, ValueError):
        return "the security token Teams showed when the outgoing webhook was made (base64), or empty"
def _bearer(v):
    if not isinstance(v, str):
        return "a string"
    return v == "" or len(v) >= 16 or "at least 16 characters (make one with: openssl rand -hex 24), or empty"
def _blank_or_slug(v):
    return v == "" or v is None or _slug_or_id(v)
def _priority_map(v):
    from syncd.core.tickets import PRIORITIES
    if not isinstance(v, dict):
        return "a mapping of priority: category"
    bad = [k for k in v if k not in PRIORITIES]
    if bad:
        return f"a mapping whose keys are {', '.join(PRIORITIES)} (not '{bad[0]}')"
    wrong = [k for k, c in v.items() if _slug_or_id(c) is not True]
    return not wrong or f"a mapping of priority: category slug or id (check '{wrong[0]}')"
def _mapping_or_blank(v): return v is None or isinstance(v, dict) or "a mapping"
def _list_or_blank(v): return v is None or isinstance(v, list) or "a list"


def _category_map(v):
    if not isinstance(v, dict):
        return "a mapping of slug: id"
    bad = [k for k, i in v.items() if not isinstance(k, str) or not isinstance(i, int)]
    return not bad or f"a mapping of slug: id (check '{bad[0]}')"


SCHEMA: dict[str, Any] = {
    "timezone": (_tz, "UTC", "How times are shown in notifications and templates (an IANA name)."),
    "database": (_str, "./data/syncd.db", "The SQLite file (relative to the config file's folder)."),
    "database_synchronous": (_choice("full", "normal"), "full",
                             "full: an acknowledged delivery survives a power cut; "
                             "normal: faster, survives a crash of syncd."),
    "rules": (_str, "./rules", "A rules YAML file, or a folder of *.yaml read in name order."),
    "log_format": (_choice("auto", "json", "console"), "auto",
                   "auto: readable on a terminal, JSON lines otherwise."),
    "server": {
        "host": (_str, "127.0.0.1", "The address serve listens on (0.0.0.0: every interface)."),
        "port": (_port, 8080, "The port serve listens on."),
        "threads": (_pos_int, 8, "Request threads of the HTTP server."),
        "max_body_bytes": (_pos_int, 1024 * 1024,
                           "Larger webhook bodies are refused with 413."),
        "trusted_proxies": (_list_of(_ip_network), [],
                            "Addresses or networks of reverse proxies whose X-Forwarded-For "
                            "is believed, so logs show the client's address."),
        "connection_limit": (_pos_int, 100, "open connections waitress accepts at once; "
                             "more wait in the listen backlog (put a buffering proxy "
                             "in front, see docs/limits.md)"),
        "channel_timeout": (_pos_int, 120, "seconds an idle or stalled client connection "
                            "is kept before waitress closes it"),
        "ingest_in_loop": (_bool, True, "true: Discourse's deliveries are served in the "
                           "server's event loop, all that arrived together stored with one "
                           "commit (docs/limits.md); false: in the request threads"),
    },
    "discourse": {
        "url": (_url, "", "The forum's base URL; empty: Discourse actions are dry-run."),
        "api_key": (_str, "", "An admin API key (from the environment, never in the file)."),
        "api_username": (_str, "system", "The user syncd acts as through the API."),
        "webhook_secret": (_secret, "", "The webhook's secret; empty: generated once, "
                                        "stored ('syncd secret show' prints it)."),
        "categories": (_list_of(_slug_or_id), ["support"],
                       "Slugs or ids whose topics are tickets; [] means every category."),
        "category_map": (_category_map, {}, "Optional slug: id pairs, so dry-runs work "
                                            "offline; the rest is read from Discourse."),
        "staff_groups": (_list_of(_str), ["staff"],
                         "Besides Discourse staff, members of these groups count as staff."),
        "timeout_seconds": (_pos_num, 15.0, "How long one API call may take."),
        "api_calls_per_minute": (_pos_int, 60,
                                 "The site's admin API budget (DISCOURSE_MAX_ADMIN_API_"
                                 "REQS_PER_MINUTE); syncd stays under it."),
        "delivery_share": (_share, 0.5, "The part of the API budget actions may use."),
        "reconcile_share": (_share, 0.3, "The part of the API budget reconcile may use."),
    },
    "processor": {
        "first_post_grace_seconds": (_pos_num, 30.0, "How long a new topic waits for its "
                                                     "first post before rules run."),
        "announce_within_hours": (_hours, 24.0, "topic_created rules run for topics newer "
                                                "than this; older ones become tickets quietly."),
        "actions_per_ticket_per_hour": (_pos_int, 30, "More actions than this for one ticket "
                                                      "in an hour are dropped (a loop guard)."),
    },
    "outbox": {
        "workers": (_pos_int, 2, "Delivery worker threads."),
        "lease_seconds": (_pos_num, 120.0, "How long a worker holds an action before another "
                                           "may take it over."),
        "max_attempts": (_count, 0, "0: retry until delivered; N: an action is dead after "
                                    "N failed attempts."),
        "max_backoff_seconds": (_pos_num, 3600.0, "The longest wait between two attempts."),
    },
    "reconcile": {
        "interval_minutes": (_pos_num, 10.0, "serve runs 'syncd sync' this often."),
        "full_every_hours": (_hours, 24.0, "and walks every topic this often (0: never)."),
        "on_start": (_bool, True, "Reconcile once when serve starts."),
        "page_size": (_pos_int, 30, "Topics read a page (Discourse's topic list size)."),
    },
    "backup": {
        "dir": (_str, "", "Folder for scheduled online backups; empty: none."),
        "every": (_interval, "24h", "How often serve takes a backup (30m, 6h, 1d)."),
        "keep": (_pos_int, 7, "Backups kept; older ones are deleted."),
    },
    "web": {
        "base_url": (_url, "", "the address staff open syncd's web page at (https: cookies are Secure)"),
        "discourse_connect_secret": (
            _connect_secret, "", "one of Discourse's discourse_connect_provider_secrets; empty: no sign-in"),
        "session_hours": (_pos_num, 12.0, "how long a sign-in lasts"),
        "login_minutes": (_pos_num, 10.0, "how long a sign-in may take at Discourse (the nonce's life)"),
        "chat_webhook_hosts": (_list_of(_str), ["chat.googleapis.com"],
                               "hosts a person's own Google Chat webhook may point at"),
        "smtp_host": (_str, "", "mail server for staff who want alerts by email; empty: logged only"),
        "smtp_port": (_port, 587, "its port"),
        "smtp_starttls": (_bool, True, "STARTTLS before logging in"),
        "smtp_username": (_str, "", "SMTP login, if the server wants one"),
        "smtp_password": (_str, "", "its password (from the environment)"),
        "email_from": (_str, "", "the From: of alert emails"),
    },
    "intake": {
        "teams": {"security_token": (_teams_token, "", "the token Teams shows when the outgoing "
                                     "webhook is made (several webhooks: their tokens, comma-"
                                     "separated); empty: POST /intake/teams is off")},
        "form": {"token": (_bearer, "", "clients send Authorization: Bearer <token>; empty: "
                           "POST /intake/form and GET /intake/{id} are off")},
        "category": (_blank_or_slug, "", "where new topics go (empty: the first of "
                     "discourse.categories)"),
        "categories_by_priority": (_priority_map, {}, "priority: category pairs; override "
                                   "category for those priorities"),
        "min_title_length": (_pos_int, 15, "the forum's min_topic_title_length: shorter titles "
                             "are refused at once"),
    },
    "calendars": (_mapping_or_blank, {}, "named business calendars: timezone, weekly hours, "
                  "holidays (country, subdiv, dates); 24x7 is built in"),
    "slas": (_list_or_blank, [], "SLA policies: the first whose 'if' matches a ticket applies"),
}
SECRET_KEYS = {"webhook_secret", "api_key", "url",   # never echoed whole: chat URLs carry a token
               "discourse_connect_secret", "smtp_password", "security_token", "token"}
SECRET_KEYS |= {"key", "secret", "password", "username"}  # channel credentials
CHANNEL_SCHEMA = {
    "type": (_str, "gchat", "The channel type (see the list below)."),
    "url": (_url, "", "The webhook URL; empty: the channel is dry-run (logged, not sent)."),
    "messages_per_minute": (_pos_int, 60, "syncd sends no faster than this."),
}
CHANNEL_SCHEMA["quiet_hours"] = (_mapping_or_blank, None, "{calendar: NAME}: non-urgent "
                                 "notifications wait until the calendar opens")
CHANNEL_SCHEMA["digest"] = (_mapping_or_blank, None, "{below: high, at: [\"09:00\"], calendar}: "
                            "notifications below a priority go out as one digest at set times")


def _check_section(schema: dict, data: Any, path: tuple, src: yamlsrc.Source,
                   problems: list[str]) -> dict[str, Any]:
    name = ".".join(map(str, path)) or "the top level"
    if data is None:
        data = {}
    if not isinstance(data, dict):
        problems.append(f"{src.where(path)}: '{name}' must be a mapping")
        return {k: (v[1] if isinstance(v, tuple) else {}) for k, v in schema.items()}
    out: dict[str, Any] = {}
    for key in data:
        if key not in schema and not (path == () and key == "channels"):
            valid = ", ".join(sorted(schema) + ([] if path else ["channels"]))
            problems.append(f"{src.where(path + (key,))}: unknown key '{key}' in {name} "
                            f"(valid: {valid})")
    for key, spec in schema.items():
        if isinstance(spec, dict):
            out[key] = _check_section(spec, data.get(key), path + (key,), src, problems)
            continue
        check, default = spec[0], spec[1]   # (check, default[, "what it does"])
        value = data.get(key)
        if value is None or (value == "" and not isinstance(default, str)):
            value = default                 # left out, blank (null), or ${VAR:-}: not set
        verdict = check(value)
        if verdict is not True:
            dotted = ".".join(map(str, path + (key,)))
            shown = _shown(key, value)
            problems.append(f"{src.where(path + (key,))}: '{dotted}' must be {verdict}, "
                            f"not {shown}")
            value = default
        out[key] = value
    return out


def _shown(key: str, value: Any) -> str:
    """A wrong value as an error may show it: URLs masked, other secrets not at all."""
    if key == "url" and isinstance(value, str):
        return repr(mask_url(value))
    return "a hidden value" if key in SECRET_KEYS else repr(value)


def _channels(data: Any, src: yamlsrc.Source, problems: list[str]) -> dict[str, ChannelSettings]:
    if data is None:
        return {}
    if not isinstance(data, dict):
        problems.append(f"{src.where(('channels',))}: 'channels' must be a mapping of name: "
                        "{type, url}")
        return {}
    out = {}
    for name, spec in data.items():
        path = ("channels", name)
        if str(name) == "subscribers" or str(name).startswith("person:"):
            problems.append(f"{src.where(path)}: the channel name '{name}' is reserved "
                            "(notify: subscribers alerts each staff member): pick another name")
        out[str(name)] = _channel(str(name), spec, path, src, problems)
    return out


def _channel(name: str, spec: Any, path: tuple, src: yamlsrc.Source,
             problems: list[str]) -> ChannelSettings:
    """One channel: the shared keys, then its type's own ``CONFIG`` (kept in ``options``)."""
    from syncd import channels
    kind = spec.get("type", "gchat") if isinstance(spec, dict) else "gchat"
    cls = channels.type_class(kind) if isinstance(kind, str) else None
    own = getattr(cls, "CONFIG", {}) if cls is not None else {}
    if cls is None:
        why = (f": its plugin failed to load ({channels.BROKEN[kind]})" if kind in channels.BROKEN
               else f" (valid: {', '.join(channel_types())})")
        problems.append(f"{src.where(path + ('type',))}: unknown channel type '{kind}'{why}")
        spec = {k: v for k, v in spec.items() if k in CHANNEL_SCHEMA} if isinstance(spec, dict) else spec
    before = len(problems)
    values = _check_section({**CHANNEL_SCHEMA, **own}, spec, path, src, problems)
    base = {k: values.pop(k) for k in CHANNEL_SCHEMA}
    settings = ChannelSettings(name=name, **base, options=values)
    if cls is None or len(problems) > before:   # its own checks assume valid keys
        return settings
    for key, problem in getattr(cls, "check_config", lambda s: [])(settings):
        problems.append(f"{src.where(path + (key,))}: channels.{name}.{key}: {problem}")
    is_configured = getattr(cls, "is_configured", None)
    configured = bool(is_configured(settings)) if is_configured else None
    if configured and channels.missing_modules(cls):
        problems.append(f"{src.where(path + ('type',))}: channel {name} ({kind}) needs "
                        f"{', '.join(channels.missing_modules(cls))}: "
                        f"pip install 'syncd[{getattr(cls, 'EXTRA', kind)}]'")
    return ChannelSettings(name=name, **base, options=values, configured=configured)


def channel_types() -> list[str]:
    """Every notifier type: one file each in ``syncd/notifiers/``."""
    from syncd.channels import types
    return sorted(types())


def parse_settings(src: yamlsrc.Source) -> Settings:
    problems: list[str] = []
    top = _check_section(SCHEMA, src.data, (), src, problems)
    channels = _channels((src.data or {}).get("channels") if isinstance(src.data, dict) else None,
                         src, problems)
    problems += _intake_problems(top, src)
    from syncd.timers import settings as timeconfig
    cals, slas, holds = timeconfig.parse(src, top["timezone"], channels, problems)
    if problems:
        raise ConfigError(problems)
    d = top["discourse"]
    discourse = DiscourseSettings(
        **{**d, "url": d["url"].rstrip("/"), "categories": tuple(d["categories"]),
           "staff_groups": tuple(d["staff_groups"]), "category_map": dict(d["category_map"])})
    return Settings(
        path=src.filename, timezone=top["timezone"], database=top["database"],
        database_synchronous=top["database_synchronous"], rules=top["rules"],
        log_format=top["log_format"],
        server=ServerSettings(**{**top["server"],
                                 "trusted_proxies": tuple(top["server"]["trusted_proxies"])}),
        discourse=discourse, channels=channels,
        processor=ProcessorSettings(**top["processor"]), outbox=OutboxSettings(**top["outbox"]),
        reconcile=ReconcileSettings(**top["reconcile"]), backup=BackupSettings(**top["backup"]),
        web=WebSettings(**{**top["web"], "base_url": top["web"]["base_url"].rstrip("/"),
                           "chat_webhook_hosts": tuple(top["web"]["chat_webhook_hosts"])}),
        intake=_intake(top["intake"]), calendars=cals, slas=slas, holds=holds,
        warnings=tuple(src.warnings))


def _intake_problems(top: dict[str, Any], src: yamlsrc.Source) -> list[str]:
    """Intake categories outside discourse.categories: their topics would never be tickets."""
    wanted = list(top["discourse"]["categories"])
    if not wanted:
        return []
    ids = {top["discourse"]["category_map"].get(w) for w in wanted if isinstance(w, str)}
    ok = set(wanted) | {i for i in ids if i is not None}
    named = [(("intake", "category"), top["intake"]["category"])]
    named += [(("intake", "categories_by_priority", p), c)
              for p, c in top["intake"]["categories_by_priority"].items()]
    return [f"{src.where(path)}: '{'.'.join(path)}' is {value!r}, not one of discourse.categories "
            f"({', '.join(map(str, wanted))}): its topics would never become tickets"
            for path, value in named if value not in ("", None) and value not in ok]


def _intake(i: dict[str, Any]) -> IntakeSettings:
    return IntakeSettings(teams_security_token=i["teams"]["security_token"],
                          form_token=i["form"]["token"], category=i["category"] or "",
                          categories_by_priority=dict(i["categories_by_priority"]),
                          min_title_length=i["min_title_length"])


def config_path(explicit: str | None = None) -> str:
    return explicit or os.environ.get("SYNCD_CONFIG") or DEFAULT_PATH


def load_settings(path: str | None = None, env: Mapping[str, str] | None = None) -> Settings:
    """Read, interpolate and validate a config file; ``ConfigError`` lists every problem."""
    path = config_path(path)
    if not os.path.exists(path):
        raise ConfigError(f"{path}:1: file not found: copy config.example.yaml to {path}, "
                          "or name another file with --config or SYNCD_CONFIG")
    return parse_settings(yamlsrc.load_file(path, env))


def settings_from_text(text: str, filename: str = "config.yaml",
                       env: Mapping[str, str] | None = None) -> Settings:
    return parse_settings(yamlsrc.load(text, filename, env))


def _extra_note(channel: ChannelSettings) -> str:
    """``, needs syncd[aws] (installed)`` for a type with an optional extra."""
    from syncd import channels
    cls = channels.type_class(channel.type)
    extra = getattr(cls, "EXTRA", None)
    if not extra:
        return ""
    missing = channels.missing_modules(cls)
    state = f"missing: pip install 'syncd[{extra}]'" if missing else "installed"
    return f", needs syncd[{extra}] ({state})"


def describe(settings: Settings) -> list[str]:
    """A short summary for ``syncd check`` and the start-up log. Never prints a secret."""
    d = settings.discourse
    lines = [
        f"database: {settings.resolve(settings.database)} (synchronous={settings.database_synchronous})",
        f"discourse: {d.url or 'not set: Discourse actions are dry-run'}",
        f"ticket categories: {', '.join(map(str, d.categories)) or 'every category'}",
    ]
    for ch in settings.channels.values():
        state = "dry-run (not configured)" if ch.dry_run else \
            "writes to the log" if ch.type == "log" else \
            "configured" + (f", {mask_url(ch.url)}" if ch.url else "")   # tokens masked
        lines.append(f"channel {ch.name}: {ch.type}, {state}{_extra_note(ch)}")
    w = settings.web
    lines.append(f"web: {w.base_url or 'no base_url'}, sign-in "
                 f"{'set' if w.discourse_connect_secret else 'off (no discourse_connect_secret)'}")
    i = settings.intake
    if i.teams_security_token or i.form_token:
        lines.append(f"intake: teams {'on' if i.teams_security_token else 'off'}, form "
                     f"{'on' if i.form_token else 'off'}, new topics in "
                     f"{i.default_category(d.categories) or '(no category)'}")
    for name, cal in settings.calendars.items():
        lines.append(f"calendar {name}: {cal.timezone}, {len(cal.holidays)} holidays")
    if settings.slas:
        lines.append("sla policies (first match applies): " + ", ".join(p.name for p in settings.slas))
    for name, hold in settings.holds.items():
        lines.append(f"channel {name} holds: " + ", ".join(
            ([f"quiet hours ({hold.quiet.name})"] if hold.quiet else [])
            + ([f"digest below {hold.digest_below}"] if hold.digest_at else [])))
    return lines



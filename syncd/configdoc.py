"""The configuration reference, generated from ``config.SCHEMA`` (the schema the code
validates with), so the documentation cannot drift from what is accepted.

``python -m syncd.configdoc > docs/configuration.md`` or ``syncd config reference``
writes it; ``tests/test_configdoc.py`` fails when the file and the schema differ.
"""
from __future__ import annotations

import json
from typing import Any, Iterator

from syncd import config

HEADER = """\
# Configuration reference

<!-- Generated from syncd/config.py (SCHEMA) by `syncd config reference`; do not edit by
     hand: change the schema's descriptions and run
     `.venv/bin/python -m syncd.configdoc > docs/configuration.md`. -->

syncd reads one YAML file: `--config FILE`, else `$SYNCD_CONFIG`, else `./config.yaml`
(`config.example.yaml` is a commented start). `${VAR}` and `${VAR:-default}` are read from
the environment: keep secrets there. A key left out, or written with nothing after it (a
YAML null), takes its default ("not set"). Relative paths are relative to the config file's
folder. `syncd check` validates the file and the rules; a running `syncd serve` reloads both
on SIGHUP or when a file changes, and says which keys need a restart (see the end).
"""


class _Anything:
    """A value no check accepts, so each check says what it wants."""

    def __repr__(self) -> str:  # pragma: no cover - never shown
        return "?"


_PROBES = (_Anything(), [_Anything()], "\x00?")   # a stranger, a list of one, odd text


def expects(check: Any) -> str:
    """What a check accepts, in its own words (``a port number``): the most telling of its
    answers to a few values no check accepts."""
    said = []
    for probe in _PROBES:
        try:
            verdict = check(probe)
        except Exception:  # a check that cannot even look at a stranger
            continue
        if isinstance(verdict, str):
            said.append(verdict)
    return max(said, key=len) if said else "see the description"


def _default(value: Any) -> str:
    if value == "" or value == [] or value == {}:
        return "not set" if value == "" else f"`{json.dumps(value)}`"
    return f"`{json.dumps(value)}`" if not isinstance(value, str) else f"`{value}`"


def entries(schema: dict[str, Any], prefix: tuple[str, ...] = ()) -> Iterator[tuple]:
    """``(dotted key, check, default, description)`` for every leaf, sections in order."""
    for key, spec in schema.items():
        if isinstance(spec, dict):
            yield from entries(spec, prefix + (key,))
        else:
            description = spec[2] if len(spec) > 2 else ""
            yield ".".join(prefix + (key,)), spec[0], spec[1], description


def _table(rows: list[tuple]) -> list[str]:
    out = ["| key | default | value | what it does |", "|---|---|---|---|"]
    for dotted, check, default, description in rows:
        out.append(f"| `{dotted}` | {_default(default)} | {expects(check)} | "
                   f"{description.replace('|', '/')} |")
    return out


def _builtin_channel_types() -> list[tuple[str, str, dict]]:
    """(type, first docstring line, the type's own keys) of each type syncd ships."""
    from syncd.channels import REGISTRY, types
    types()
    found = []
    for name, cls in sorted(REGISTRY.items()):
        if not cls.__module__.startswith("syncd.channels"):
            continue  # a plugin's type belongs in its own documentation
        doc = (cls.__doc__ or "").strip().splitlines()
        found.append((name, doc[0] if doc else "", dict(getattr(cls, "CONFIG", None) or {})))
    return found


def reference() -> str:
    """The whole of docs/configuration.md."""
    lines = [HEADER]
    top = [(k, s) for k, s in config.SCHEMA.items() if not isinstance(s, dict)]
    lines += ["## Top level", ""] + _table(list(entries(dict(top)))) + [""]
    for section, spec in config.SCHEMA.items():
        if isinstance(spec, dict):
            lines += [f"## {section}", ""] + _table(list(entries(spec, (section,)))) + [""]
    lines += ["## channels", "",
              "Named destinations that rules `notify`: `channels: {NAME: {type: …, …}}`. "
              "Every channel takes:", ""]
    lines += _table(list(entries(config.CHANNEL_SCHEMA, ("channels", "NAME")))) + [""]
    lines += ["Channel types built in:", ""]
    kinds = _builtin_channel_types()
    lines += [f"- `{name}`: {doc}" for name, doc, _ in kinds] + [""]
    for name, _, own in kinds:
        if own:
            lines += [f"### channels of type `{name}`", ""]
            lines += _table(list(entries(own, ("channels", "NAME")))) + [""]
    lines += ["## Reloading", "",
              "On SIGHUP, or when the config or a rules file changes, `serve` reads both "
              "again. These keys take effect at once: " +
              ", ".join(f"`{k}`" for k in _live_keys()) + ". Any other key that changed "
              "is kept at its running value until a restart; `/healthz` and the log "
              "name them (`restart_needed`), and `syncd check` says so too.", ""]
    return "\n".join(lines).rstrip("\n") + "\n"


def _live_keys() -> list[str]:
    from syncd.reload import LIVE_KEYS
    return sorted(LIVE_KEYS)


def main() -> None:
    print(reference(), end="")


if __name__ == "__main__":
    main()

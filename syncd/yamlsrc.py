"""YAML with line numbers and ``${VAR}`` / ``${VAR:-default}`` from the environment.

``load(text, filename)`` returns a ``Source``: the plain data plus the line of every key
and value, so config and rules errors read ``file:line: message``. Standard library and
PyYAML only.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Any, Mapping

import yaml

from syncd import yamltraps
from syncd.errors import ConfigError

Path_ = tuple  # a key path such as ("discourse", "url") or ("rules", 3, "then", 0)
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


@dataclass
class Source:
    filename: str
    data: Any
    lines: dict[Path_, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)   # file:line: … (not errors)

    def line(self, path: Path_) -> int:
        """The line of ``path``, or of its nearest parent that has one."""
        path = tuple(path)
        while path and path not in self.lines:
            path = path[:-1]
        return self.lines.get(path, 1)

    def where(self, path: Path_) -> str:
        return f"{self.filename}:{self.line(path)}"


def load(text: str, filename: str, env: Mapping[str, str] | None = None,
         interpolate: bool = True) -> Source:
    """Parse YAML text; raise ``ConfigError`` naming the line for syntax errors."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        raise ConfigError(yamltraps.explain(exc, text, filename)) from exc
    src = Source(filename, None, warnings=yamltraps.comment_cuts(node, text, filename))
    problems: list[str] = []
    env = os.environ if env is None else env
    src.data = _build(node, (), src, env if interpolate else None, problems)
    if problems:
        raise ConfigError(problems)
    return src


def load_file(path: str, env: Mapping[str, str] | None = None, interpolate: bool = True) -> Source:
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}:1: file not found") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}:1: cannot read: {exc}") from exc
    return load(text, path, env, interpolate)


def _build(node: yaml.Node | None, path: Path_, src: Source, env, problems: list[str]) -> Any:
    if node is None:
        return None
    src.lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                problems.append(yamltraps.non_scalar_key(key_node, src.filename))
                continue
            key = _scalar(key_node)
            if key in out:
                problems.append(f"{src.filename}:{key_node.start_mark.line + 1}: "
                                f"key '{key}' appears twice")
            src.lines[path + (key,)] = key_node.start_mark.line + 1
            out[key] = _build(value_node, path + (key,), src, env, problems)
            src.lines[path + (key,)] = key_node.start_mark.line + 1  # the key's line, not the value's
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_build(item, path + (i,), src, env, problems) for i, item in enumerate(node.value)]
    value = _scalar(node)
    if env is not None and isinstance(value, str) and "${" in value:
        value = _interpolate(value, env, f"{src.filename}:{node.start_mark.line + 1}", problems)
    return value


def _scalar(node: yaml.Node) -> Any:
    if not isinstance(node, yaml.ScalarNode):
        return str(node.value)
    loader = yaml.SafeLoader("")
    try:
        return loader.construct_object(node, deep=True)
    finally:
        loader.dispose()


def _interpolate(value: str, env: Mapping[str, str], where: str, problems: list[str]) -> Any:
    def sub(match: re.Match) -> str:
        name, default = match.group(1), match.group(2)
        if name in env and (env[name] != "" or default is None):
            return env[name]
        if default is not None:
            return default
        problems.append(f"{where}: environment variable {name} is not set "
                        f"(set it, or write ${{{name}:-default}})")
        return ""
    whole = _VAR.fullmatch(value)
    result = _VAR.sub(sub, value)
    if whole and result.isdigit():
        return int(result)
    return result

"""The YAML mistakes admins make in rules and config, said in their terms.

``explain(exc, text, filename)`` turns a PyYAML error into ``file:line: …`` on the line the
mistake is on (PyYAML often reports a later one: an unclosed quote at the end of the file),
with a hint: quote a value that starts with ``{{``, or one that contains ``: ``, indent
with spaces. ``comment_cuts(node, text, filename)`` warns where a plain value ends just
before `` #``: YAML reads the rest of the line as a comment, so ``text: New ticket
#{{ ticket.id }}`` sends "New ticket". Standard library and PyYAML only.
"""
from __future__ import annotations

import re

import yaml

_BRACES = re.compile(r"""(^|[:\-]\s+)\{\{""")           # `key: {{` or `- {{`, unquoted
_COLON_IN_VALUE = re.compile(r"""^\s*(-\s+)?[^'"#\s][^:#]*:\s+[^'"\s{\[|>&*!][^#]*:\s""")
_CUT = re.compile(r" #\S")

QUOTE_BRACES = ("quote a value that starts with {{, e.g. text: \"{{ ticket.title }}\" "
                "(YAML reads an unquoted {{ as a mapping)")


def _hint_for(line: str, problem: str) -> str | None:
    if _BRACES.search(line):
        return QUOTE_BRACES
    if "\t" in line[:len(line) - len(line.lstrip())]:
        return "indent with spaces, not tabs"
    if "mapping values are not allowed" in problem:
        return ("quote a value that contains ': ', e.g. text: \"Note: the printer is "
                "back\"")
    if re.search(r"'\w*'\w", line):
        return "inside '…' write '' for an apostrophe, or quote the value with \"…\""
    return None


def explain(exc: yaml.YAMLError, text: str, filename: str) -> str:
    """One ``file:line: not valid YAML: …`` line, pointing at the mistake, with a hint."""
    lines = text.splitlines() or [""]
    mark = getattr(exc, "problem_mark", None)
    context = getattr(exc, "context_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    line = mark.line if mark else 0
    # An unclosed quote is found where the file (or the next quote) ends: the mistake is
    # where the quoted value began.
    if context is not None and "quoted scalar" in (getattr(exc, "context", "") or "") \
            and context.line < line:
        line = context.line
        problem = "this quoted value is never closed (a missing quote at its end)"
    start = max(0, min(context.line if context is not None else line, line) - 2)
    hint_line, hint = line, None
    for i in range(min(line, len(lines) - 1), start - 1, -1):   # the nearest line that fits
        hint = _hint_for(lines[i], problem)
        if hint:
            hint_line = i
            break
    message = f"{filename}:{hint_line + 1}: not valid YAML: {problem}"
    return message + (f"; {hint}" if hint else "")


def non_scalar_key(key_node: yaml.Node, filename: str) -> str:
    """A mapping used as a key: almost always an unquoted ``{{ … }}`` value."""
    return (f"{filename}:{key_node.start_mark.line + 1}: not valid YAML here: "
            f"{QUOTE_BRACES}")


def comment_cuts(node: yaml.Node | None, text: str, filename: str) -> list[str]:
    """A warning for each plain value that ends just before ' #' on its line."""
    lines = text.splitlines()
    out: list[str] = []
    stack = [node] if node is not None else []
    while stack:
        n = stack.pop()
        if isinstance(n, yaml.MappingNode):
            stack.extend(v for _, v in reversed(n.value))
        elif isinstance(n, yaml.SequenceNode):
            stack.extend(reversed(n.value))
        elif isinstance(n, yaml.ScalarNode) and n.style is None and n.value \
                and n.start_mark.line == n.end_mark.line and n.end_mark.line < len(lines):
            rest = lines[n.end_mark.line][n.end_mark.column:]
            if _CUT.match(rest):
                whole = (n.value + rest).strip()
                out.append(f"{filename}:{n.end_mark.line + 1}: the value ends before ' #': "
                           f"YAML reads '{rest.strip()}' as a comment, so the value is "
                           f"{n.value!r}; quote it to keep it whole: \"{whole}\"")
    return out

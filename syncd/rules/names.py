"""Checking the names a template uses against the fields its variables really have.

``unknown_fields(source, fields, items)`` walks the parsed template and returns one message
for each ``ticket.titel`` (or ``ticket['titel']``) whose field is not among ``fields[name]``,
with the closest real field when there is one. ``items`` names list variables whose
elements have known fields (``{% for t in similar %}{{ t.title }}``). The field lists are
given by the caller, derived from the dictionaries the templates are rendered with
(``rules.actions.template_fields``), so a field added to the ticket appears by itself.
"""
from __future__ import annotations

import difflib
from typing import Collection, Iterator, Mapping

from jinja2 import nodes

from syncd.rules.templates import ENV


def _suggest(name: str, valid: Collection[str]) -> str:
    close = difflib.get_close_matches(name, sorted(valid), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _walk(node: nodes.Node, scope: Mapping[str, Collection[str]],
          items: Mapping[str, Collection[str]]) -> Iterator[tuple[str, str, int, Collection[str]]]:
    """(variable, field, template line, its fields) of each field use the scope does not know."""
    if isinstance(node, nodes.For):
        inner = dict(scope)
        if isinstance(node.target, nodes.Name) and isinstance(node.iter, nodes.Name) \
                and node.iter.name in items:
            inner[node.target.name] = items[node.iter.name]
        elif isinstance(node.target, nodes.Name):
            inner.pop(node.target.name, None)     # a loop over something else shadows it
        yield from _walk(node.iter, scope, items)
        for child in list(node.body) + list(node.else_) + ([node.test] if node.test else []):
            yield from _walk(child, inner, items)
        return
    field = None
    if isinstance(node, nodes.Getattr):
        field = node.attr
    elif isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const) \
            and isinstance(node.arg.value, str):
        field = node.arg.value
    if field is not None and isinstance(node.node, nodes.Name) and node.node.name in scope:
        if field not in scope[node.node.name]:
            yield node.node.name, field, node.lineno, scope[node.node.name]
    for child in node.iter_child_nodes():
        yield from _walk(child, scope, items)


def unknown_fields(source: str, fields: Mapping[str, Collection[str]],
                   items: Mapping[str, Collection[str]] | None = None) -> list[str]:
    """One message per unknown field, in template order (empty: every name is real)."""
    tree = ENV.parse(source)
    out = []
    for variable, field, line, valid in _walk(tree, fields, items or {}):
        where = f" on line {line} of the text" if "\n" in source.strip() else ""
        hint = _suggest(field, valid)
        known = "" if hint else f"; {variable} has {', '.join(sorted(valid))}"
        out.append(f"unknown field '{field}'{hint} in {variable}.{field}{where}{known}")
    return out

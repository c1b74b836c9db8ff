"""Bounds on rendering a rules template: time, output and the size of every value made.

A template is text an admin writes, rendered with data a student writes. Neither may stop
syncd: ``{{ 'a' * 10**9 }}`` or loops nested over big ranges would take minutes and
gigabytes inside the processor's transaction. Three layers:

- ``check_static(tree)`` at load time (``syncd check``, reload): what can be seen in the
  source (huge literals, text repeated by a big constant, ranges and nested loops over
  more than ``MAX_LOOP_STEPS`` steps, width arguments over ``MAX_COUNT``) is a load error.
- ``Bounded``, mixed into the sandbox: ``*``, ``**``, ``+``, ``%`` and ``~``, string
  methods and filters check the size of what they would make before making it.
- ``bounded_render`` renders under a time budget (a line tracer on the template's own
  frames, so a loop cannot outlast it) and stops once the output is over ``MAX_RENDER``.

A limit broken at render time raises ``TemplateLimit``: the action fails with the reason
and is not tried again (the same template and data would break it again).
"""
from __future__ import annotations

import functools
import re
import sys
import threading
import time
from typing import Any, Callable, Iterator

from jinja2 import nodes
from jinja2.compiler import CodeGenerator
from jinja2.utils import _PassArg

MAX_SECONDS = 2.0            # one template's rendering, wall clock
MAX_RENDER = 300_000         # output characters; the text is then cut to templates.MAX_OUTPUT
MAX_VALUE = 1_000_000        # characters (or items) of any value a template makes
MAX_COUNT = 100_000          # a width, count or repeat argument; the size of a range
MAX_LOOP_STEPS = 100_000     # loop steps over constant ranges, nested loops multiplied
MAX_LITERAL = 10_000         # characters of a text literal
MAX_NUMBER = 2 ** 63 - 1     # a number literal (no id or count is larger)
MAX_POWER_BITS = 4096        # 2 ** 4096 is a big enough number for any notification
TEMPLATE_FILENAME = "<template>"
_WIDTH = re.compile(r"%[-+ #0]*(\d+)|\{[^{}]*:[^{}]*?(\d+)[^{}]*\}")
_SIZED_METHODS = {"center", "ljust", "rjust", "zfill", "expandtabs"}
# filters whose arguments are widths or counts (the others take values: format, default ...)
_SIZED_FILTERS = {"center", "indent", "wordwrap", "truncate", "batch", "slice", "urlize"}


class TemplateLimit(Exception):
    """A template went over one of the limits above; the message says which."""


# --- sizes ---------------------------------------------------------------------------------

def _size(value: Any) -> int:
    return len(value) if isinstance(value, (str, bytes, list, tuple, dict)) else 0


def _too_big(size: int, what: str) -> None:
    if size > MAX_VALUE:
        raise TemplateLimit(f"{what} would make a value of {size:,} characters or items "
                            f"(the limit is {MAX_VALUE:,})")


def _check_widths(fmt: Any) -> None:
    if not isinstance(fmt, str):
        return
    for match in _WIDTH.finditer(fmt):
        width = int(match.group(1) or match.group(2) or 0)
        if width > MAX_COUNT:
            raise TemplateLimit(f"a format width of {width:,} (the limit is {MAX_COUNT:,})")


def _check_count(value: Any, what: str) -> None:
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_COUNT:
        raise TemplateLimit(f"{what} with {value:,} (the limit is {MAX_COUNT:,})")


def _binop_size(op: str, left: Any, right: Any) -> None:
    if op == "*":
        for seq, n in ((left, right), (right, left)):
            if _size(seq) and isinstance(n, int):
                _too_big(_size(seq) * max(n, 0), "repeating a value")
    elif op == "+" and _size(left) and _size(right):
        _too_big(_size(left) + _size(right), "joining two values")
    elif op == "**" and isinstance(left, int) and isinstance(right, int) and right > 0:
        if abs(left) > 1 and abs(left).bit_length() * right > MAX_POWER_BITS:
            raise TemplateLimit(f"{left} ** {right} is a number of more than "
                                f"{MAX_POWER_BITS} bits")
    elif op == "%" and isinstance(left, str):
        _check_widths(left)


# --- the sandbox mixin ----------------------------------------------------------------------

class _BoundedCodeGenerator(CodeGenerator):
    """Compiles ``a ~ b`` to a size-checked join instead of a plain one."""

    def visit_Concat(self, node: nodes.Concat, frame: Any) -> None:
        self.write("environment.bounded_join((")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("))")


def bounded_range(*args: int) -> range:
    """``range`` with at most ``MAX_COUNT`` items (Jinja2's sandbox allows 100,000 too)."""
    rng = range(*args)
    if len(rng) > MAX_COUNT:
        raise TemplateLimit(f"range of {len(rng):,} items (the limit is {MAX_COUNT:,})")
    return rng


class Bounded:
    """Mixed into a ``SandboxedEnvironment``: operators, calls and filters check sizes."""

    code_generator_class = _BoundedCodeGenerator
    intercepted_binops = frozenset(["*", "**", "+", "%"])

    def bound(self) -> None:
        """Wrap the filters and ``range``; call once after the filters are registered."""
        self.globals["range"] = bounded_range
        self.filters = {name: _bounded_filter(name, f) for name, f in self.filters.items()}

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        _binop_size(operator, left, right)
        return super().call_binop(context, operator, left, right)  # type: ignore[misc]

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805
        _check_deadline()
        owner, name = getattr(__obj, "__self__", None), getattr(__obj, "__name__", "")
        if isinstance(owner, str):
            if name in _SIZED_METHODS and args:
                _check_count(args[0], f"str.{name}")
            elif name == "replace" and len(args) >= 2 and isinstance(args[0], str) \
                    and isinstance(args[1], str) and args[0]:
                _too_big(len(owner) + owner.count(args[0]) * max(0, len(args[1]) - len(args[0])),
                         "str.replace")
        result = super().call(__context, __obj, *args, **kwargs)  # type: ignore[misc]
        _too_big(_size(result), f"calling {name or 'a function'}")
        return result

    def wrap_str_format(self, value: Any) -> Any:
        """``'{:99999999}'.format(x)``: the widths are checked when the method is reached."""
        owner = getattr(value, "__self__", None)
        if isinstance(owner, str) and getattr(value, "__name__", "") in ("format", "format_map"):
            _check_widths(owner)
        return super().wrap_str_format(value)  # type: ignore[misc]

    @staticmethod
    def concat(values: Any) -> str:
        """What ``{% set x %}…{% endset %}`` blocks and macros join their output with."""
        parts = list(values)
        _too_big(sum(len(p) for p in parts if isinstance(p, str)), "a block of text")
        return "".join(parts)

    @staticmethod
    def bounded_join(values: Any) -> str:
        parts = [str(v) for v in values]
        _too_big(sum(len(p) for p in parts), "joining with ~")
        return "".join(parts)


def _bounded_filter(name: str, func: Callable) -> Callable:
    skip = 1 if _PassArg.from_obj(func) is not None else 0  # context/environment first

    @functools.wraps(func)
    def bounded(*args: Any, **kwargs: Any) -> Any:
        _check_deadline()
        value, extra = (args[skip] if len(args) > skip else None), args[skip + 1:]
        if name in _SIZED_FILTERS:
            for arg in (*extra, *kwargs.values()):
                _check_count(arg, f"the {name} filter")
        if name == "format":
            _check_widths(value)
        elif name == "replace" and len(extra) >= 2 and isinstance(value, str) \
                and isinstance(extra[0], str) and isinstance(extra[1], str) and extra[0]:
            _too_big(len(value) + value.count(extra[0]) * max(0, len(extra[1]) - len(extra[0])),
                     "the replace filter")
        elif name == "indent" and isinstance(value, str):
            width = extra[0] if extra else kwargs.get("width", 4)
            if isinstance(width, int):
                _too_big(len(value) + (value.count("\n") + 1) * width, "the indent filter")
        result = func(*args, **kwargs)
        _too_big(_size(result), f"the {name} filter")
        return result
    return bounded


# --- the time and output budget -------------------------------------------------------------

_budget = threading.local()


def _check_deadline() -> None:
    deadline = getattr(_budget, "deadline", None)
    if deadline is not None and time.monotonic() > deadline:
        raise TemplateLimit(f"rendering took over {MAX_SECONDS:g} s")


def _tracer(frame: Any, event: str, arg: Any) -> Any:
    """Trace only the template's own frames: every line checks the clock and its values."""
    if frame.f_code.co_filename != TEMPLATE_FILENAME:
        return None
    return _line


CHECK_EVERY = 32             # lines of template code between two checks of the budget


def _line(frame: Any, event: str, arg: Any) -> Any:
    if event != "line":
        return _line
    _budget.lines += 1
    if _budget.lines % CHECK_EVERY:
        return _line
    _check_deadline()
    for value in frame.f_locals.values():
        if type(value) in (str, list) and len(value) > MAX_VALUE:
            raise TemplateLimit(f"a value of {len(value):,} characters or items "
                                f"(the limit is {MAX_VALUE:,})")
    return _line


def loops(tree: nodes.Template) -> bool:
    """Whether a template can run longer than its length: loops, macros (recursion)."""
    return any(True for _ in tree.find_all((nodes.For, nodes.Macro, nodes.CallBlock)))


def bounded_render(chunks: Iterator[str], seconds: float | None = None,
                   max_chars: int | None = None, trace: bool = True) -> str:
    """Join the chunks a ``Template.generate`` yields, within ``seconds`` and ``max_chars``
    (``MAX_SECONDS`` and ``MAX_RENDER`` by default). ``trace``: watch the clock on every
    line of template code (needed only where ``loops``: without them a template runs each
    line once, and every operation in it is bounded by the size checks)."""
    seconds = MAX_SECONDS if seconds is None else seconds
    max_chars = MAX_RENDER if max_chars is None else max_chars
    previous = sys.gettrace()
    _budget.deadline, _budget.lines = time.monotonic() + seconds, 0
    if trace:
        sys.settrace(_tracer)
    out: list[str] = []
    size = 0
    try:
        for chunk in chunks:
            size += len(chunk)
            if size > max_chars:
                raise TemplateLimit(f"the text is over {max_chars:,} characters")
            out.append(chunk)
            _check_deadline()
    finally:
        if trace:
            sys.settrace(previous)
        _budget.deadline = None
        close = getattr(chunks, "close", None)
        if close is not None:
            close()
    return "".join(out)


# --- what can be seen before rendering ------------------------------------------------------

def _fold(node: nodes.Node) -> Any:
    """The value of a constant expression (None when it is not constant or too big)."""
    if isinstance(node, nodes.Const):
        return node.value
    if isinstance(node, (nodes.Neg, nodes.Pos)):
        value = _fold(node.node)
        return -value if isinstance(value, (int, float)) and isinstance(node, nodes.Neg) else value
    if isinstance(node, nodes.BinExpr):
        left, right = _fold(node.left), _fold(node.right)
        if not isinstance(left, (int, float, str)) or not isinstance(right, (int, float, str)):
            return None
        try:
            _binop_size(node.operator, left, right)
            return _OPS[node.operator](left, right)
        except TemplateLimit:
            raise
        except Exception:
            return None
    return None


_OPS: dict[str, Callable[[Any, Any], Any]] = {
    "*": lambda a, b: a * b, "**": lambda a, b: a ** b, "+": lambda a, b: a + b,
    "-": lambda a, b: a - b, "/": lambda a, b: a / b, "//": lambda a, b: a // b,
    "%": lambda a, b: a % b,
}


def check_static(tree: nodes.Template) -> None:
    """Raise ``TemplateLimit`` naming the first bomb seen in the parsed template."""
    for node in tree.find_all(nodes.Const):
        value = node.value
        if isinstance(value, float) and (value != value or value in (float("inf"),
                                                                       float("-inf"))):
            raise TemplateLimit(f"line {node.lineno}: the number {value} (too large)")
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_NUMBER:
            raise TemplateLimit(f"line {node.lineno}: a number of {len(str(value)):,} digits")
        if isinstance(value, str) and len(value) > MAX_LITERAL:
            raise TemplateLimit(f"line {node.lineno}: a text of {len(value):,} characters "
                                f"(the limit is {MAX_LITERAL:,})")
    for node in tree.find_all(nodes.BinExpr):
        try:
            _fold(node)
        except TemplateLimit as exc:
            raise TemplateLimit(f"line {node.lineno}: {exc}") from None
        if node.operator == "*":
            _check_repeat(node)
    for node in tree.find_all(nodes.Filter):
        if node.name not in _SIZED_FILTERS:
            continue
        for arg in (*node.args, *(kw.value for kw in node.kwargs)):
            value = _fold(arg)
            if isinstance(value, int) and abs(value) > MAX_COUNT:
                raise TemplateLimit(f"line {node.lineno}: the {node.name} filter with "
                                    f"{value:,} (the limit is {MAX_COUNT:,})")
    _check_ranges(tree)
    _check_loops(tree, 1)


_TEXT_FIELDS = {"title", "body", "author", "slug", "url", "name", "description", "category",
                "status", "priority", "visibility", "text", "tag", "actor", "raw"}
_TEXT_FILTERS = {"string", "join", "upper", "lower", "title", "capitalize", "trim", "replace",
                 "format", "center", "indent", "truncate", "wordwrap", "e", "escape"}


def _is_text(node: nodes.Node) -> bool:
    """Text for certain: a text literal, a text field of the ticket or event, a text filter."""
    if isinstance(_fold(node), str):
        return True
    if isinstance(node, nodes.Getattr):
        return node.attr in _TEXT_FIELDS
    if isinstance(node, nodes.Getitem):
        return isinstance(node.arg, nodes.Const) and node.arg.value in _TEXT_FIELDS
    if isinstance(node, nodes.Filter):
        return node.name in _TEXT_FILTERS
    return isinstance(node, nodes.Concat)


def _check_repeat(node: nodes.BinExpr) -> None:
    """Text times a constant: at most what MAX_VALUE allows (a number times a number is
    arithmetic, left alone)."""
    for text, count in ((node.left, node.right), (node.right, node.left)):
        n = _fold(count)
        if not isinstance(n, int) or isinstance(n, bool) or not _is_text(text):
            continue
        known = _fold(text)
        size = len(known) if isinstance(known, str) else 1
        if size * n > MAX_VALUE:
            raise TemplateLimit(f"line {node.lineno}: repeating a text {n:,} times "
                                f"(the limit is {MAX_VALUE:,} characters)")


def _range_size(node: nodes.Node) -> int | None:
    if isinstance(node, nodes.Call) and isinstance(node.node, nodes.Name) \
            and node.node.name == "range":
        args = [_fold(a) for a in node.args]
        if args and all(isinstance(a, int) for a in args):
            try:
                return len(range(*args))
            except (ValueError, OverflowError):
                return None
    return None


def _check_ranges(tree: nodes.Template) -> None:
    for call in tree.find_all(nodes.Call):
        size = _range_size(call)
        if size is not None and size > MAX_COUNT:
            raise TemplateLimit(f"line {call.lineno}: a range of {size:,} items (the limit "
                                f"is {MAX_COUNT:,})")


def _check_loops(node: nodes.Node, steps: int) -> None:
    for child in node.iter_child_nodes():
        inner = steps
        if isinstance(child, nodes.For):
            size = _range_size(child.iter)
            if size is not None:
                inner = steps * max(size, 1)
                if inner > MAX_LOOP_STEPS:
                    raise TemplateLimit(
                        f"line {child.lineno}: loops over {inner:,} steps in all (nested "
                        f"ranges multiply; the limit is {MAX_LOOP_STEPS:,})")
        _check_loops(child, inner)

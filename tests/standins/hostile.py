"""Hostile deliveries for the fuzz test and ``make fuzz``: the recorded deliveries of
``webhooks/`` with one field set to a bad value, structural cases, and issue 18's seeds.

Bad values are raw JSON text, so that what ``json.dumps`` cannot write (``NaN``,
``Infinity``, ``1e400``, lone surrogates, 20,000 levels of nesting) is sent as a hostile
client would send it.
"""
from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any, Iterator

WEBHOOKS = Path(__file__).resolve().parents[2] / "webhooks"
_HOLE = "\u0000hole\u0000"

BAD_VALUES: list[str] = [
    "9223372036854775808", "-9223372036854775809", "18446744073709551616", "1" + "0" * 400,
    "Infinity", "-Infinity", "NaN", "1e400", "-1e400", "1e-400", "-1", "0", "-0", "1.5",
    "null", "true", "false", '""', '"0"', '"now"', '"-1"', "[]", "{}", "[1,2,3]",
    '{"id":1}', '"\\ud800"', '"\\udfff\\ud800"', '"\\u0000"', '"<users/all>"',
    '"<https://evil.example/login|Open in Discourse>"', '"*bold* _it_ ~s~ `c`"',
    '"' + "a" * 20000 + '"', '"{{ 7*7 }}{% for i in range(99) %}x{% endfor %}"',
    "[" + ",".join(f'"t{i}"' for i in range(400)) + "]", "[" * 300 + "]" * 300,
    '"2026-13-45T99:99:99Z"',
]

STRUCTURAL: list[bytes] = [
    b"", b"null", b"[]", b"1", b'"x"', b"{", b"{}", b"[" * 1000 + b"]" * 1000,
    b'{"a":' * 5000 + b"1" + b"}" * 5000, b"\xff\xfe\x00", b'{"topic":null}',
    b'{"topic":[]}', b'{"post":"x"}', b'{"like":{}}', b'{"solved":7}',
    b'{"topic":{"id":1}}' + b" " * 10,
]

# Issue 18's minimal bodies: (recorded delivery whose headers to use, body, header changes)
SEEDS: list[tuple[str, bytes, dict[str, str]]] = [
    ("topic_created", b'{"topic":{"id":9223372036854775808,"category_id":5}}', {}),
    ("topic_created", b"[" * 1000 + b"]" * 1000, {}),
    ("topic_created", b'{"topic":{"id":Infinity}}', {}),
    ("topic_created", b'{"topic":{"id":12,"category_id":1e400}}', {}),
    ("post_liked", b'{"like":{"post":null,"user":{"id":1}}}', {}),
    ("post_liked", b'{"like":{"post":"x","user":{"id":1}}}', {}),
    ("post_liked", b'{"like":{"post":[1],"user":{"id":1}}}', {}),
    ("post_liked", b'{"like":{"post":3,"user":{"id":1}}}', {}),
    ("topic_created", b'{"topic":{"id":0,"category_id":5,"created_at":"2026-03-02T09:14:03Z"}}', {}),
    ("topic_created", b'{"topic":{"id":12,"category_id":5,"created_at":"0"}}', {}),
    ("topic_edited", b'{"topic":{"id":12,"category_id":5,"tags":['
     + b",".join(b'"t%d"' % i for i in range(4000)) + b"]}}", {}),
    ("topic_edited", b'{"topic":{"id":12,"category_id":5,"tags":"' + b"a" * 20000 + b'"}}', {}),
    ("topic_created", b'{"topic":{"id":12,"category_id":5,"title":"\\ud800"}}', {}),
    ("topic_created", b'{"topic":{"id":12,"category_id":5,"title":["a","b"]}}', {}),
    ("topic_created", json.dumps(json.loads((WEBHOOKS / "topic_created.json").read_text())
                                 ["body"]).encode(),
     {"X-Discourse-Event": "post_created"}),
    ("post_created", b'{"post":{"id":5,"topic_id":12,"post_number":1,"category_id":5,'
     b'"category_slug":NaN}}', {}),
    ("topic_created", b'{"topic":{"id":12,"category_id":5,"title":"<users/all>",'
     b'"created_at":"2026-03-02T09:14:03Z"}}', {}),
    ("topic_created", b'{"topic":{"id":13,"category_id":5,"title":'
     b'"<https://evil.example/login|Open in Discourse>"}}', {}),
]


def recording(name: str) -> tuple[dict[str, str], Any]:
    data = json.loads((WEBHOOKS / f"{name}.json").read_text(encoding="utf-8"))
    return dict(data["headers"]), data["body"]


def names() -> list[str]:
    return sorted(p.stem for p in WEBHOOKS.glob("*.json") if p.stem != "ping")


def paths(value: Any, prefix: tuple = ()) -> Iterator[tuple]:
    """Every field of a body, containers included, as key/index paths."""
    if prefix:
        yield prefix
    if isinstance(value, dict):
        for key, inner in value.items():
            yield from paths(inner, prefix + (key,))
    elif isinstance(value, list):
        for i, inner in enumerate(value[:3]):
            yield from paths(inner, prefix + (i,))


def with_value(body: Any, path: tuple, raw: str) -> bytes:
    """The body as JSON with the field at ``path`` replaced by the raw JSON text ``raw``."""
    copy = json.loads(json.dumps(body))
    target = copy
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = _HOLE
    text = json.dumps(copy, separators=(",", ":"))
    return text.replace(json.dumps(_HOLE), raw, 1).encode("utf-8", "surrogatepass")


def mutation(rng: random.Random) -> tuple[str, bytes, dict[str, str]]:
    """One random case for ``make fuzz``: a mutated recording, a structural case or a seed."""
    roll = rng.random()
    if roll < 0.1:
        return rng.choice(SEEDS)
    if roll < 0.15:
        return rng.choice(names()), rng.choice(STRUCTURAL), {}
    name = rng.choice(names())
    _, body = recording(name)
    path = rng.choice(list(paths(body)))
    return name, with_value(body, path, rng.choice(BAD_VALUES)), {}

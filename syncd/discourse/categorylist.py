"""Every category of a forum, read through ``/categories.json`` page by page.

Neither a single ``/categories.json`` nor ``/site.json`` is the whole list on every forum
(discourse/discourse ``app/models/category_list.rb``, ``app/models/site.rb``):

- ``/categories.json`` is paginated when lazy-loading categories applies to the API user
  (``lazy_load_categories_groups``) or the site has more than 1000 categories: 20 top-level
  categories a page (1-based ``page``), each with at most 5 subcategories in
  ``subcategory_list`` and all their ids in ``subcategory_ids``. Without pagination page 1
  holds everything and page 2 is empty by design, so the same loop ends after two calls.
- ``/site.json`` with lazy loading lists only the API user's sidebar categories.

So: page through the top level until a page is empty, and for each category with more
subcategories than were sent, page through ``?parent_category_id=``.
"""
from __future__ import annotations

from typing import Any, Callable, Iterator, Mapping

Get = Callable[..., Any]   # get(path, **params) -> the JSON answer
MAX_PAGES = 200            # 4,000 categories a level: a bound, not a limit anyone meets


def walk(get: Get) -> list[dict[str, Any]]:
    """Every category the API user can see (``id, slug, topic_count, parent_category_id``)."""
    found: dict[int, dict[str, Any]] = {}
    pending: list[int | None] = [None]
    done: set[int | None] = set()
    while pending:
        parent = pending.pop(0)
        if parent in done:
            continue
        done.add(parent)
        for cat in _level(get, parent):
            cid = _id(cat)
            if cid is None:
                continue
            found.setdefault(cid, _summary(cat, parent))
            subs = [s for s in cat.get("subcategory_list") or () if isinstance(s, Mapping)]
            for sub in subs:
                sid = _id(sub)
                if sid is not None:
                    found.setdefault(sid, _summary(sub, cid))
            sent = {_id(s) for s in subs}
            if any(i not in sent for i in cat.get("subcategory_ids") or ()):
                pending.append(cid)
    return list(found.values())


def pairs(get: Get) -> dict[str, int]:
    """Slug: id of every category (subcategories too)."""
    return {c["slug"]: c["id"] for c in walk(get) if c.get("slug")}


def _level(get: Get, parent: int | None) -> Iterator[Mapping[str, Any]]:
    seen: set[int] = set()
    for page in range(1, MAX_PAGES + 1):
        params: dict[str, Any] = {"page": page, "include_subcategories": "true"}
        if parent is not None:
            params["parent_category_id"] = parent
        data = get("/categories.json", **params) or {}
        cats = [c for c in (data.get("category_list") or {}).get("categories") or ()
                if isinstance(c, Mapping)]
        fresh = [c for c in cats if _id(c) not in seen]
        if not fresh:   # an empty page, or a site that ignores ``page`` and repeats page 1
            return
        seen.update(_id(c) for c in fresh)
        yield from fresh


def _summary(cat: Mapping[str, Any], parent: int | None) -> dict[str, Any]:
    return {"id": _id(cat), "slug": cat.get("slug"), "name": cat.get("name"),
            "topic_count": int(cat.get("topic_count") or 0),
            "parent_category_id": cat.get("parent_category_id", parent)}


def _id(cat: Mapping[str, Any]) -> int | None:
    value = cat.get("id")
    return int(value) if value is not None else None

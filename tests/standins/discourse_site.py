"""What both Discourse stand-ins serve of the site itself: ``/categories.json`` (paginated as
``CategoryList`` pages it), ``/site.json`` (lazy-loaded categories as ``Site#categories``
trims them) and ``/about.json`` (``AboutSerializer``'s ``version``).

Sources (discourse/discourse): ``app/models/category_list.rb`` (``CATEGORIES_PER_PAGE = 20``,
``SUBCATEGORIES_PER_CATEGORY = 5``; when paginating, ``where(parent_category_id: …)`` pages
only one level, 1-based ``page``; without pagination page 2 and later are ``query.none``),
``app/models/site.rb`` (with ``can_lazy_load_categories?`` only the sidebar's categories and
their ancestors are kept), ``app/serializers/about_serializer.rb`` (``version`` for everyone).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

CATEGORIES_PER_PAGE = 20
SUBCATEGORIES_PER_CATEGORY = 5
MAX_UNOPTIMIZED_CATEGORIES = 1000


@dataclass
class SiteCategory:
    id: int
    slug: str
    name: str
    parent_category_id: int | None = None
    topic_count: int = 0
    default_view: str = "latest"


def _entry(cat: SiteCategory, children: list[SiteCategory], count: int) -> dict[str, Any]:
    return {"id": cat.id, "name": cat.name, "slug": cat.slug, "color": "0088CC",
            "text_color": "FFFFFF", "topic_count": count, "post_count": count,
            "position": cat.id, "description": None, "read_restricted": False,
            "parent_category_id": cat.parent_category_id, "default_view": cat.default_view,
            "subcategory_ids": [c.id for c in children]}


def category_list(cats: list[SiteCategory], query: dict[str, list[str]], lazy: bool,
                  counts: dict[int, int] | None = None) -> dict[str, Any]:
    """``GET /categories.json`` as ``CategoriesController#index`` answers it."""
    counts = counts or {}
    parent = (query.get("parent_category_id") or [""])[0]
    page = max(1, int((query.get("page") or ["1"])[0] or 1))
    include_subs = (query.get("include_subcategories") or [""])[0] == "true"
    paginate = lazy or len(cats) > MAX_UNOPTIMIZED_CATEGORIES
    parent_id = int(parent) if parent else None
    level = [c for c in cats if c.parent_category_id == parent_id]
    if paginate:
        start = (page - 1) * CATEGORIES_PER_PAGE
        chosen = level[start:start + CATEGORIES_PER_PAGE]
    else:
        chosen = level if page == 1 else []
    out = []
    for cat in chosen:
        children = [c for c in cats if c.parent_category_id == cat.id]
        entry = _entry(cat, children, counts.get(cat.id, cat.topic_count))
        if include_subs:
            shown = children[:SUBCATEGORIES_PER_CATEGORY] if paginate else children
            entry["subcategory_list"] = [
                _entry(c, [g for g in cats if g.parent_category_id == c.id],
                       counts.get(c.id, c.topic_count)) for c in shown]
        out.append(entry)
    return {"category_list": {"can_create_category": True, "can_create_topic": True,
                              "categories": out}}


def site(cats: list[SiteCategory], lazy: bool, sidebar: list[int] | None,
         counts: dict[int, int] | None = None) -> dict[str, Any]:
    """``GET /site.json``: with lazy loading, only the sidebar's categories and ancestors."""
    counts = counts or {}
    by_id = {c.id: c for c in cats}
    keep = set(by_id)
    if lazy:
        keep = set()
        for cid in sidebar or ():
            while cid is not None and cid in by_id and cid not in keep:
                keep.add(cid)
                cid = by_id[cid].parent_category_id
    return {"categories": [{"id": c.id, "name": c.name, "slug": c.slug,
                            "topic_count": counts.get(c.id, c.topic_count),
                            "parent_category_id": c.parent_category_id,
                            "default_view": c.default_view}
                           for c in cats if c.id in keep],
            "can_lazy_load_categories": lazy}


def about(version: str) -> dict[str, Any]:
    return {"about": {"title": "Campus Help", "description": "Questions and answers",
                      "locale": "en", "version": version, "https": True,
                      "can_see_about_stats": True, "contact_url": "", "contact_email": "",
                      "moderator_ids": [2], "admin_ids": [1],
                      "stats": {"topic_count": 0, "post_count": 0, "user_count": 4}}}


def many(n: int, first_id: int = 100) -> list[SiteCategory]:
    """``n`` top-level categories beyond the usual ones, for pagination tests."""
    return [SiteCategory(first_id + i, f"course-{i:03d}", f"Course {i:03d}") for i in range(n)]

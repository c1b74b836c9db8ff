"""The actions of the outbox, one method each (``do_<kind>``), on top of the gateway's
requests (``syncd/discourse.py``). Each reads the topic first and changes only what
differs, records the echo of each change it is about to make, and says what it did.
"""
from __future__ import annotations

from typing import Any, Callable

from syncd.errors import PermanentError

Expect = Callable[[str, Any], None]
TITLE_TAKEN = "has already been used"   # Topic#unique_among's message (422)
MAX_TITLE = 255                          # SiteSetting.max_topic_title_length's default


def faq_titles(title: str, tid: int, key: str) -> list[str]:
    """Titles to try for an FAQ copy, each unique a step further: Discourse refuses a title
    another listable topic has (ignoring case), and the original is one of them."""
    suffixes = ["", f" (from #{tid})", f" (from #{tid}, {key})"]
    return [title[:MAX_TITLE - len(s)] + s for s in suffixes]


def tag_name(tag: dict[str, Any]) -> str:
    """A tag object's real name: 2026 sites show a localised ``name`` and the real one in
    ``original_name``."""
    return str(tag.get("original_name") or tag.get("name") or tag.get("slug") or "")


class GatewayActions:
    """Mixed into ``DiscourseGateway``: needs its ``topic``, ``post``, ``reply``,
    ``new_topic``, ``set_status``, ``update_topic``, ``make_private``, ``make_public`` and
    ``category_id``."""

    def perform(self, action: Any, expect: Expect, retrying: bool,
                ticket_category_id: int | None = None) -> dict[str, Any]:
        """Carry out one outbox action; returns what to keep as its result."""
        handler = getattr(self, f"do_{action.kind}", None)
        if handler is None:
            raise PermanentError(f"no Discourse action '{action.kind}'")
        local = getattr(self, "_local", None)
        if local is not None:   # how far back a retried reply looks for its marker
            local.since = getattr(action, "created_at", None)
        return handler(action.ticket_id, action.params, action.key, expect, retrying,
                       ticket_category_id)

    def do_create_intake_topic(self, tid, params, key, expect, retrying, _cat=None):
        from syncd.discourse.intake import create_topic
        return create_topic(self, params, retrying)

    def do_reply(self, tid, params, key, expect, retrying, _cat=None):
        return self.reply(tid, params["raw"], key, retrying)

    do_suggest_similar = do_reply

    def do_message_author(self, tid, params, key, expect, retrying, _cat=None):
        return self.new_topic(key, retrying, title=params["title"], raw=params["raw"],
                              archetype="private_message", target_recipients=params["username"])

    def do_set_visibility(self, tid, params, key, expect, retrying, ticket_category_id=None):
        wanted = params["visibility"]
        topic = self.topic(tid)
        if wanted == "private":
            return {"visibility": wanted, "done": self.make_private(tid, topic, expect)}
        if wanted not in ("public", "unlisted"):
            raise PermanentError(f"unknown visibility '{wanted}' (valid: public, unlisted, private)")
        done = []
        if topic.get("archetype") == "private_message":
            expect("visibility", wanted)
            self.make_public(tid, ticket_category_id)
            done.append("converted")
            topic = self.topic(tid)   # TopicConverter leaves ``visible`` as it was: read it
        if bool(topic.get("visible", True)) != (wanted == "public"):
            expect("visibility", wanted)
            self.set_status(tid, "visible", wanted == "public")
            done.append("listed" if wanted == "public" else "unlisted")
        return {"visibility": wanted, "done": done}

    def do_move_to_category(self, tid, params, key, expect, retrying, _cat=None):
        topic = self.topic(tid)
        if topic.get("archetype") == "private_message":
            return {"skipped": "the ticket is a private message now, which has no category"}
        cat_id = self.category_id(params.get("category"), params.get("category_id"))
        if topic.get("category_id") == cat_id:
            return {"category_id": cat_id, "changed": False}
        expect("category", cat_id)
        self.update_topic(tid, category_id=cat_id)
        return {"category_id": cat_id, "changed": True}

    def _retag(self, tid, add: list[str], remove: list[str], expect: Expect) -> dict[str, Any]:
        current = [{"id": t.get("id"), "name": tag_name(t)} if isinstance(t, dict) else {"name": t}
                   for t in self.topic(tid).get("tags") or []]
        names = [(t.get("name") or "").lower() for t in current]   # Discourse lowercases tags
        added = [t for t in dict.fromkeys(x.lower() for x in add) if t not in names]
        removed = [t for t in dict.fromkeys(x.lower() for x in remove) if t in names]
        if not added and not removed:
            return {"tags": names, "changed": False}
        for tag in added:
            expect("tag_added", tag)
        for tag in removed:
            expect("tag_removed", tag)
        keep = [{k: t[k] for k in ("id", "name") if t.get(k) is not None}
                for t in current if (t.get("name") or "").lower() not in removed]
        self.update_topic(tid, tags=self.tags_field(keep + [{"name": t} for t in added]))
        return {"tags": [t["name"] for t in keep] + added, "changed": True}

    def do_add_tags(self, tid, params, key, expect, retrying, _cat=None):
        return self._retag(tid, list(params.get("tags") or []), [], expect)

    def do_remove_tags(self, tid, params, key, expect, retrying, _cat=None):
        return self._retag(tid, [], list(params.get("tags") or []), expect)

    def do_close_topic(self, tid, params, key, expect, retrying, _cat=None):
        if self.topic(tid).get("closed"):
            return {"closed": True, "changed": False}
        expect("closed", "True")
        self.set_status(tid, "closed", True)
        return {"closed": True, "changed": True}

    def do_promote_faq(self, tid, params, key, expect, retrying, _cat=None):
        topic = self.topic(tid)
        if params.get("private") or topic.get("archetype") == "private_message":
            return {"skipped": "private ticket: never promoted to the FAQ"}
        cat_id = self.category_id(params.get("category"), params.get("category_id"))
        if params.get("mode", "move") == "move":
            if topic.get("category_id") != cat_id:
                expect("category", cat_id)
                self.update_topic(tid, category_id=cat_id)
            return {"mode": "move", "category_id": cat_id}
        raw = self.faq_text(tid, topic, params.get("accepted_post_id"))
        title = str(params.get("title") or topic.get("title") or f"Topic {tid}")
        title = title if title.lower().startswith("faq") else f"FAQ: {title}"
        for candidate in faq_titles(title, tid, key):
            try:
                result = self.new_topic(key, retrying, title=candidate, raw=raw, category=cat_id)
            except PermanentError as exc:
                if exc.status == 422 and TITLE_TAKEN in str(exc).lower():
                    continue   # Topic#unique_among: titles are unique, ignoring case
                raise
            return {"mode": "copy", "category_id": cat_id, **result}
        raise PermanentError(f"Discourse refused every FAQ title tried for ticket {tid} (they "
                             "have already been used): rename the FAQ topics in the way, or "
                             "turn on the site setting that allows duplicate titles", 422)

    def faq_text(self, tid: int, topic: dict[str, Any], accepted_post_id: Any) -> str:
        """The question and the accepted answer quoted, with a link back."""
        posts = (topic.get("post_stream") or {}).get("posts") or []
        first = next((p for p in posts if p.get("post_number") == 1), None)
        parts = []
        if first:
            question = self.post(first["id"])
            parts.append(_quote(question, tid, "**Question**"))
        if accepted_post_id:
            parts.append(_quote(self.post(accepted_post_id), tid, "**Accepted answer**"))
        url = f"{self.base_url}/t/{topic.get('slug') or '-'}/{tid}"
        parts.append(f"Originally asked in {url}")
        return "\n\n".join(parts)


def _quote(post: dict[str, Any], tid: int, label: str) -> str:
    who, number = post.get("username") or "someone", post.get("post_number") or 1
    return (f'{label} by @{who}:\n\n[quote="{who}, post:{number}, topic:{tid}"]\n'
            f'{(post.get("raw") or "").strip()}\n[/quote]')

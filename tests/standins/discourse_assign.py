"""The Discourse stand-in with discourse-assign installed, as strict as the plugin.

Follows discourse/discourse-assign (read at bb1e5775): ``config/routes.rb`` (``PUT
/assign/assign``, ``PUT /assign/unassign``), ``app/controllers/discourse_assign/
assign_controller.rb`` (``ensure_assign_allowed`` → 403 ``invalid_access``;
``params.require(:target_id, :target_type)``; an unknown user, group or topic → 404;
refusals → 400 ``{"error": "…"}`` with the messages of ``config/locales/server.en.yml``;
``success_json`` otherwise; unassign always succeeds) and ``lib/assigner.rb`` (the
``assigned``/``unassigned`` webhook payloads, which land in ``hooks`` for the test to
deliver back to syncd, signed, as Discourse would).
"""
from __future__ import annotations

import json
import threading
from typing import Any

from standins.discourse import JSON, DiscourseStandIn

NOT_FOUND = {"errors": ["The requested URL or resource could not be found."],
             "error_type": "not_found"}


class AssignForumStandIn(DiscourseStandIn):
    ROUTES = DiscourseStandIn.ROUTES + [
        ("PUT", r"^/assign/assign(?:\.json)?$", "_assign"),
        ("PUT", r"^/assign/unassign(?:\.json)?$", "_unassign"),
    ]

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.enabled = True                       # the plugin's assign_enabled setting
        self.users = {"bob": 57, "carol": 61, "system": -1}
        self.groups = {"faculty": 41, "support-team": 42}
        self.assignable_groups = {"faculty", "support-team"}   # Group.assignable
        self.can_assign = {"system", "bob"}                     # current_user.can_assign?
        self.assignments: dict[int, tuple[str, str]] = {}       # topic id -> (type, name)
        self.hooks: list[dict[str, Any]] = []                   # {"headers", "body"}
        self._event_id = 97000
        self._who = threading.local()

    def handle(self, method, path, query, headers, body):
        self._who.name = (headers.get("Api-Username") or "").lower()
        return super().handle(method, path, query, headers, body)

    # --- the plugin's controller ---------------------------------------------------------
    def _guard(self, payload: dict) -> tuple | None:
        if not self.enabled:
            return 404, JSON, NOT_FOUND
        if self._who.name not in self.can_assign:
            return 403, JSON, {"errors": ["You are not permitted to view the requested resource."],
                               "error_type": "invalid_access"}
        missing = [k for k in ("target_id", "target_type") if not payload.get(k)]
        if missing:
            return 400, JSON, {"errors": [f"param is missing or the value is empty: {missing[0]}"],
                               "error_type": "invalid_parameters"}
        if payload["target_type"] != "Topic" or self._topic(payload["target_id"]) is None:
            return 404, JSON, NOT_FOUND
        return None

    def _assign(self, query, payload):
        refused = self._guard(payload)
        if refused:
            return refused
        tid = int(payload["target_id"])
        username, group = payload.get("username"), payload.get("group_name")
        if username:
            name = next((u for u in self.users if u == str(username).lower()), None)
            kind = "user"
        else:
            name = next((g for g in self.groups if g == str(group or "").lower()), None)
            kind = "group"
        if name is None:
            return 404, JSON, NOT_FOUND
        if kind == "group" and name not in self.assignable_groups:
            return 400, JSON, {"error": f"@{name} can't be assigned since they don't belong "
                                        "to assigned allowed groups."}
        if self.assignments.get(tid) == (kind, name):
            return 400, JSON, {"error": f"Topic is already assigned to @{name}"}
        if tid in self.assignments:
            self._hook("unassigned", tid, *self.assignments[tid])
        self.assignments[tid] = (kind, name)
        self._hook("assigned", tid, kind, name)
        return 200, JSON, {"success": "OK"}

    def _unassign(self, query, payload):
        refused = self._guard(payload)
        if refused:
            return refused
        tid = int(payload["target_id"])
        if tid in self.assignments:
            self._hook("unassigned", tid, *self.assignments.pop(tid))
        return 200, JSON, {"success": "OK"}

    def _hook(self, event: str, tid: int, kind: str, name: str) -> None:
        """The payload ``lib/assigner.rb`` builds for ``enqueue_hooks(:assign, event)``."""
        side = "assigned" if event == "assigned" else "unassigned"
        actor = self._who.name
        body = {"type": event, "topic_id": tid, "topic_title": self._topic(tid)["title"],
                f"{side}_by_id": self.users.get(actor, -1), f"{side}_by_username": actor}
        if kind == "user":
            body.update({f"{side}_to_id": self.users[name], f"{side}_to_username": name})
        else:
            body.update({f"{side}_to_group_id": self.groups[name], f"{side}_to_group_name": name})
        self._event_id += 1
        self.hooks.append({"headers": {"X-Discourse-Event-Type": "assign",
                                       "X-Discourse-Event": event,
                                       "X-Discourse-Event-Id": str(self._event_id),
                                       "X-Discourse-Instance": self.base_url},
                           "body": json.dumps({"assign": body}, separators=(",", ":"))})

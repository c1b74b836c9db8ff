"""discourse-assign through its API: the ``assign`` and ``unassign`` outbox actions.

Routes, parameters and answers follow discourse/discourse-assign (``config/routes.rb``:
``put "/assign"``, ``put "/unassign"`` under ``/assign``;
``app/controllers/discourse_assign/assign_controller.rb``; ``lib/assigner.rb``):
``PUT /assign/assign.json`` with ``target_id``, ``target_type=Topic`` and ``username`` or
``group_name`` answers ``{"success": "OK"}``, or 400 ``{"error": "…"}`` when the plugin
refuses (the group is not assignable, already assigned, a limit reached), 404 for an
unknown user, group or topic (or the plugin off), 403 when the API user may not assign.
``PUT /assign/unassign.json`` always answers success. Mixed into ``DiscourseGateway``.
"""
from __future__ import annotations

from typing import Any, Callable

from syncd.errors import PermanentError

Expect = Callable[[str, Any], None]
ALREADY = "already assigned"


class AssignActions:
    """Needs the gateway's ``_call``."""

    def do_assign(self, tid, params, key, expect, retrying, _cat=None):
        kind, name = params["type"], params["name"]
        field = "username" if kind == "user" else "group_name"
        expect("assigned", name)   # the plugin's webhook comes back: it must fire no rule
        try:
            self._call("PUT", "/assign/assign.json", target_id=int(tid), target_type="Topic",
                       should_notify="true", **{field: name})
        except PermanentError as exc:
            if ALREADY in str(exc).lower():   # a retry after a crash: it went through before
                return {"assigned": name, "type": kind, "changed": False}
            raise PermanentError(f"discourse-assign refused to assign topic {tid} to {kind} "
                                 f"'{name}': {exc}. Check that the plugin is enabled, that the "
                                 f"{kind} exists and is in assign_allowed_on_groups (or, for "
                                 f"a group, that its 'who can assign' level allows it).",
                                 getattr(exc, "status", None)) from None
        return {"assigned": name, "type": kind, "changed": True}

    def do_unassign(self, tid, params, key, expect, retrying, _cat=None):
        expect("unassigned", "")
        self._call("PUT", "/assign/unassign.json", target_id=int(tid), target_type="Topic")
        return {"unassigned": True}

"""The users of an import: usernames and emails chosen in one thread (duplicates seen),
sent by the workers; agents into the staff group at the end of the phase.

A user in flight when a run died is looked up by email before it is created again; a
taken username (someone already in the forum) is retried once with the Freshdesk id; a
taken email is the forum user who has it.
"""
from __future__ import annotations

import secrets
from typing import Iterable

from syncd.errors import TransientError
from syncd.importers.freshdesk import mapping
from syncd.importers.freshdesk.client import Refused
from syncd.importers.freshdesk.plan import now as _now
from syncd.importers.freshdesk.reader import User
from syncd.store import imports
from syncd.store.db import transaction

MEMBER_BATCH = 50


class UserSteps:
    """Mixed into ``FreshdeskImport`` (runner.py): ``store``, ``client``, ``plan``,
    ``reader``, ``tally``, ``stop``, ``_problem``, ``_refused`` and ``_network_retry`` come
    from there."""

    def _planned_users(self, users: Iterable[User] | None = None) -> Iterable[User]:
        """Choose each user's username and email here, in one thread, so that duplicates
        are seen; the workers only send."""
        for user in self.reader.users() if users is None else users:
            if self.stop.is_set():
                return
            if self._plan_user(user):
                yield user

    def _plan_user(self, user: User) -> bool:
        """Plan one user; False when there is nothing to send (done, or an alias)."""
        db = self.store.db()
        row = imports.get(db.conn, "user", user.id)
        if row and row["state"] in ("done", "skipped", "alias"):
            self.tally.add("skipped", "user")
            return False
        if row is None:
            if self._merge_duplicate(db, user):
                return False
            conn = db.conn
            call = mapping.map_user(user, lambda name, c=conn: imports.username_taken(c, name),
                                    self.plan.limits)
            with transaction(db) as conn:
                conn.execute(
                    "INSERT INTO import_map (source, kind, source_id, state, ref, email, agent,"
                    " updated_at) VALUES ('freshdesk', 'user', ?, 'planned', ?, ?, ?, ?)",
                    (user.id, call.username, call.email, int(user.agent), _now()))
                for text in call.problems:
                    self._problem(conn, user.file, f"user {user.id}", text, "warning")
        return True

    def users_first(self, tickets: Iterable, fetch) -> Iterable:
        """The catch-up's tickets, each after its requester and note authors who were not in
        the export (``fetch(user_id)`` → ``User`` or None), created here in this thread."""
        for ticket in tickets:
            wanted = {ticket.requester_id, *(n.user_id for n in ticket.notes)} - {None}
            for uid in sorted(wanted):
                if imports.get(self.store.db().conn, "user", uid) is None:
                    user = fetch(uid)
                    if user is not None and self._plan_user(user):
                        self.import_user(user)
            yield ticket

    def _merge_duplicate(self, db, user: User) -> bool:
        """A second Freshdesk user with an email already seen: an alias of the first (one
        forum account; Discourse refuses a second account with the same email)."""
        email = (user.email or "").strip().lower()
        other = imports.user_by_email(db.conn, email) if email else None
        if other is None or other["source_id"] == user.id:
            return False
        target = other["ref"] if other["state"] == "alias" else other["source_id"]
        with transaction(db) as conn:
            conn.execute(
                "INSERT INTO import_map (source, kind, source_id, state, ref, agent, reason, "
                "updated_at) VALUES ('freshdesk', 'user', ?, 'alias', ?, ?, ?, ?)",
                (user.id, target, int(user.agent),
                 f"duplicate email: the forum account of Freshdesk user {target}", _now()))
            self._problem(conn, user.file, f"user {user.id}",
                          f"duplicate email {email}: merged into Freshdesk user {target} "
                          "(one forum account)", "warning")
        self.tally.add("skipped", "user")
        return True

    def import_user(self, user: User) -> None:
        db = self.store.db()
        row = imports.get(db.conn, "user", user.id)
        if row is None or row["state"] in ("done", "skipped", "alias"):
            return
        with transaction(db) as conn:
            before = imports.begin(conn, "user", user.id, agent=user.agent)
        username, email = row["ref"], row["email"]
        found = self._find_user(email) if before in ("pending",) else None
        how = "found"
        tries = 0
        while found is None:
            try:
                found, how = self._create_user(user, username, email)
            except Refused as exc:
                self._refused("user", user.id, user.file, f"user {user.id}", exc)
                return
            except TransientError as exc:
                tries = self._network_retry(tries, exc)
                found = self._find_user(email)
        user_id, final_name = found
        with transaction(db) as conn:
            imports.done(conn, "user", user.id, user_id, final_name)
            if user.agent or row["agent"]:
                conn.execute("INSERT OR IGNORE INTO import_map (source, kind, source_id, state, "
                             "ref, updated_at) VALUES ('freshdesk', 'member', ?, 'pending', ?, ?)",
                             (user.id, final_name, _now()))
        self.tally.add(how, "user")

    def _create_user(self, user: User, username: str, email: str
                     ) -> tuple[tuple[int, str], str]:
        """((id, username), ``created`` or ``found``: the email is a forum user's already)."""
        for attempt in range(2):
            data = self.client.call("POST", "/users.json", json=mapping.UserCall(
                user.id, username, email, user.name, user.agent).params(secrets.token_urlsafe(18)))
            if data.get("success") and data.get("user_id"):
                return (int(data["user_id"]), username), "created"
            if data.get("success"):     # hide_email_address_taken: no id in the answer
                found = self._find_user(email)
                if found:
                    return found, "created" if found[1].lower() == username.lower() else "found"
            errors = data.get("errors") or {}
            text = mapping_error(data)
            if "email" in errors or "primary_email" in errors:
                found = self._find_user(email)
                if found:
                    return found, "found"
            named = "username" in errors or "username" in str(data.get("message") or "").lower()
            if named and attempt == 0:     # taken, invalid or reserved ('admin'): add the id
                username = mapping.with_suffix(username.rsplit("_" + user.id, 1)[0], user.id,
                                               self.plan.limits)
                with transaction(self.store.db()) as conn:
                    conn.execute("UPDATE import_map SET ref = ? WHERE source = 'freshdesk' AND "
                                 "kind = 'user' AND source_id = ?", (username, user.id))
                continue
            raise Refused(f"Discourse did not create the user: {text}", 422)
        raise Refused("Discourse did not create the user (username refused twice)", 422)

    def _find_user(self, email: str) -> tuple[int, str] | None:
        data = self.client.call("GET", "/admin/users/list/all.json", params={"email": email})
        for entry in data if isinstance(data, list) else []:
            if entry.get("id") and entry.get("username"):
                return int(entry["id"]), entry["username"]
        return None

    def add_members(self) -> None:
        """Agents into the staff group, up to ``MEMBER_BATCH`` a call (idempotent)."""
        if self.plan.staff_group_id is None:
            return
        db = self.store.db()
        while not self.stop.is_set():
            batch = imports.pending(db.conn, "member", MEMBER_BATCH)
            if not batch:
                return
            names = ",".join(r["ref"] for r in batch)
            try:
                self.client.call("PUT", f"/groups/{self.plan.staff_group_id}/members.json",
                                 json={"usernames": names})
            except Refused as exc:
                if "already" not in str(exc).lower():
                    with transaction(db) as conn:
                        for r in batch:
                            imports.finish(conn, "member", r["source_id"], "failed", str(exc))
                    self.tally.add("failed", "member", str(exc))
                    continue
            with transaction(db) as conn:
                for r in batch:
                    imports.done(conn, "member", r["source_id"], self.plan.staff_group_id)
            with self.tally.lock:
                self.tally.created["member"] += len(batch)


def mapping_error(data: dict) -> str:
    errors = data.get("errors")
    if isinstance(errors, dict) and errors:
        return "; ".join(f"{k}: {', '.join(map(str, v))}" for k, v in errors.items())[:300]
    return str(data.get("message") or "no reason given")[:300]

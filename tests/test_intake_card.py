"""The Adaptive Card form shipped in docs/intake/ticket-form.json: valid Adaptive Card 1.4
(checked against Microsoft's published schema, tests/reference/adaptive-card-1.4.json,
draft-06), and what it submits is what POST /intake/form accepts."""
from __future__ import annotations

import copy
import json
from pathlib import Path

import jsonschema

from standins import reference
from syncd.core.intake import check_form
from syncd.core.tickets import PRIORITIES

ROOT = Path(__file__).resolve().parent.parent
CARD = json.loads((ROOT / "docs" / "intake" / "ticket-form.json").read_text())
SCHEMA = json.loads(reference("adaptive-card-1.4.json").read_text())


def errors(card) -> list[str]:
    validator = jsonschema.Draft6Validator(SCHEMA)
    return [jsonschema.exceptions.best_match([e]).message for e in validator.iter_errors(card)]


def inputs(card) -> dict[str, dict]:
    return {e["id"]: e for e in card["body"] if e["type"].startswith("Input.")}


def test_the_card_is_valid_adaptive_card_1_4():
    """No schema errors, version 1.4, only actions Teams allows in a flow's card."""
    assert errors(CARD) == []
    assert CARD["version"] == "1.4"
    assert {a["type"] for a in CARD["actions"]} == {"Action.Submit"}


def test_the_schema_check_catches_a_broken_card():
    """A misspelled element type is an error: the check is not vacuous."""
    broken = copy.deepcopy(CARD)
    broken["body"][0]["type"] = "TextBlok"
    assert errors(broken)


def test_the_card_asks_for_what_the_form_endpoint_reads():
    """Inputs title, priority (the four priorities), description, category, tags; the
    required ones are those POST /intake/form requires."""
    found = inputs(CARD)
    assert set(found) == {"title", "priority", "description", "category", "tags"}
    assert [c["value"] for c in found["priority"]["choices"]] == list(PRIORITIES)
    assert {k for k, v in found.items() if v.get("isRequired")} == {"title", "priority",
                                                                    "description"}


def test_what_the_card_submits_is_accepted_by_the_form_endpoint():
    """A submission as Teams sends it (input ids → strings; unset choice sets are empty
    strings), with the requester the flow adds, passes check_form."""
    submitted = {"title": "Printer on floor 3 jams on every job", "priority": "high",
                 "category": "", "description": "Since Monday.\nTried a restart.",
                 "tags": "printer, floor 3", "form": "syncd-ticket"}
    body = {**submitted, "requester": {"name": "Jane Smith", "email": "jane@example.edu"}}
    req, problems = check_form(body, categories=("support", "hardware"))
    assert problems == () and req.tags == ("printer", "floor-3") and req.category is None

"""The shipped rules and schema: they load with the example config and validate."""
from __future__ import annotations

from pathlib import Path

import yaml
from jsonschema import Draft202012Validator

from syncd.config import load_settings
from syncd.rules import load_rules, schema
from syncd.rules.loader import rule_files

ROOT = Path(__file__).resolve().parent.parent


def test_default_rules_load_with_the_example_config():
    """Every shipped rule loads against the example config's channels and categories."""
    settings = load_settings(str(ROOT / "config.example.yaml"), env={})
    rs = load_rules(str(ROOT / "rules"), list(settings.channels),
                    settings.discourse.category_map)
    assert len(rs) >= 10
    assert all(Path(f).name[:2].isdigit() for f in rs.files)


def test_default_rules_validate_against_the_shipped_schema():
    """Editors validating with schema.json agree with the loader on the shipped rules."""
    validator = Draft202012Validator(schema())
    Draft202012Validator.check_schema(schema())
    for f in rule_files(ROOT / "rules"):
        data = yaml.load(f.read_text(), Loader=yaml.SafeLoader)
        for rule in data["rules"]:
            if True in rule:                  # YAML 1.1 reads `on` as true; editors use 1.2
                rule["on"] = rule.pop(True)
        errors = [e.message for e in validator.iter_errors(data)]
        assert errors == [], f"{f}: {errors}"


def test_default_rules_are_commented():
    """Each shipped rules file starts with comments that teach the language."""
    for f in rule_files(ROOT / "rules"):
        assert f.read_text().startswith("#"), f

"""The rules engine: the YAML language admins write to steer the helpdesk.

``load_rules`` (loader: YAML -> checked, compiled ``RuleSet``), ``evaluate`` (engine: pure,
the rules that fire for one change), ``decide`` (state actions, derived changes and planned
outgoing actions for the processor). See docs/rules.md.

May import: ``core``, the shared infrastructure, Jinja2, PyYAML and jsonschema. The engine
and conditions are pure (standard library and ``core`` only). Must not import an adapter
(``inbox``, ``outbox``, ``channels``, ``discourse``, ``store``) or ``cli``.
"""
from syncd.rules.decide import Decision, DecideContext, PlannedAction, decide
from syncd.rules.engine import Action, Firing, Rule, RuleSet, evaluate
from syncd.rules.loader import load_rules, schema

__all__ = ["Action", "Decision", "DecideContext", "Firing", "PlannedAction", "Rule", "RuleSet",
           "decide", "evaluate", "load_rules", "schema"]

"""The rules engine: the YAML language admins write to steer the helpdesk.

``load_rules`` (loader: YAML -> checked, compiled ``RuleSet``), ``evaluate`` (engine: pure,
the rules that fire for one change), ``decide`` (state actions, derived changes and planned
outgoing actions for the processor). See docs/rules.md.
"""
from syncd.rules.decide import Decision, DecideContext, PlannedAction, decide
from syncd.rules.engine import Action, Firing, Rule, RuleSet, evaluate
from syncd.rules.loader import load_rules, schema

__all__ = ["Action", "Decision", "DecideContext", "Firing", "PlannedAction", "Rule", "RuleSet",
           "decide", "evaluate", "load_rules", "schema"]

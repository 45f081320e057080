"""Business rules (pure): tags and segments defined in YAML, checked, compiled and versioned.

docs/rules.md describes the language and the file format. The public names are re-exported
here; the modules: catalogue (built-in tag types, RulesError), conditions (the condition
language), scoring (model tags), ruleset (a compiled rule set), load (YAML -> RuleSet),
inputs (what an evaluation reads from a stored state).
"""

from profiles.rules.catalogue import BUILTIN_TYPES, LOOKUP_TAGS, RulesError, TagType
from profiles.rules.conditions import (
    All,
    AnyOf,
    Clause,
    Explained,
    Node,
    Not,
    compile_node,
    explain,
    interpret,
    parse_condition,
)
from profiles.rules.inputs import read_inputs
from profiles.rules.load import default_rules, load_rules, load_rules_file, parse_rules
from profiles.rules.ruleset import RuleSet, SegmentRule, TagRule
from profiles.rules.scoring import Logistic

__all__ = [
    "BUILTIN_TYPES", "LOOKUP_TAGS", "All", "AnyOf", "Clause", "Explained", "Logistic", "Node",
    "Not", "RuleSet", "RulesError", "SegmentRule", "TagRule", "TagType", "compile_node",
    "default_rules", "explain", "interpret", "load_rules", "load_rules_file", "parse_condition",
    "parse_rules", "read_inputs",
]  # fmt: skip

"""Assessment 1: the lead-intent workflow. See README.md in this folder.

What other packages use of it (Assessment 3's agents): `extract_fields`, the
one function that extracts a lead's fields (LLM, else rules, then validated)
into a `StepOutcome[LeadFields]`, the rule-based parsers it is built from, and
`WorkflowSettingsDep` for the region those read phone numbers in.
"""

from .budget import money_amounts, parse_budget
from .config import WorkflowSettings, WorkflowSettingsDep
from .extraction import LeadFields, extract_fields, extract_fields_local
from .grounding import InputEvidence

__all__ = [
    "InputEvidence",
    "LeadFields",
    "WorkflowSettings",
    "WorkflowSettingsDep",
    "extract_fields",
    "extract_fields_local",
    "money_amounts",
    "parse_budget",
]

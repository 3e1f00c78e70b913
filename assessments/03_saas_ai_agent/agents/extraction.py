"""Assessment 1's field extraction and grounding, reused as is (one implementation of the idea).

Imported with importlib because the package name starts with a digit.
"""

from __future__ import annotations

import importlib

_extraction = importlib.import_module("assessments.01_workflow_automation.extraction")
_grounding = importlib.import_module("assessments.01_workflow_automation.grounding")
_budget = importlib.import_module("assessments.01_workflow_automation.budget")

LeadFields = _extraction.LeadFields
extract_fields = _extraction.extract_fields
extract_fields_local = _extraction.extract_fields_local
parse_budget = _extraction.parse_budget
InputEvidence = _grounding.InputEvidence
money_amounts = _budget.money_amounts

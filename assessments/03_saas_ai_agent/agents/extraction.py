"""Assessment 1's field extraction, reused as is (one implementation of the idea).

Imported with importlib because the package name starts with a digit.
"""

from __future__ import annotations

import importlib

_extraction = importlib.import_module("assessments.01_workflow_automation.extraction")

LeadFields = _extraction.LeadFields
extract_fields = _extraction.extract_fields
extract_fields_local = _extraction.extract_fields_local
parse_budget = _extraction.parse_budget

"""The eval command runs offline and prints the figures the README reports."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "assessments/01_workflow_automation/evaluate.py"


def test_evaluate_prints_intent_and_extraction_figures(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(SCRIPT)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "LLM_PROVIDER": "local", "LOG_LEVEL": "WARNING"},
        check=True,
    )

    out = result.stdout
    accuracy = float(re.search(r"accuracy\s+([\d.]+)", out).group(1))
    assert accuracy >= 0.90
    for label in ("macro-F1", "ECE", "Confusion matrix", "Sales", "Support", "Partnership"):
        assert label in out
    floors = {"name": 0.90, "email": 0.98, "phone": 0.98, "budget": 0.90}
    for field, floor in floors.items():
        rate = float(re.search(rf"^\s+{field}\s+([\d.]+)", out, re.M).group(1))
        assert rate >= floor, field

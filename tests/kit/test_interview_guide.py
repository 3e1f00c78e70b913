"""The interviewer's guide (`docs/interview-guide.md`) points at code that exists.

Every `path::name` pointer in the guide must name a file of this repository that defines
`name`: a top-level function, class or constant, or `Class.method` (methods, properties).
Files are read with `ast`, not imported, so the assessment folders that start with a digit
need no `importlib`.
"""

from __future__ import annotations

import ast
import re
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "docs" / "interview-guide.md"
POINTER = re.compile(r"`(?P<path>[\w./-]+\.py)::(?P<name>[A-Za-z_][\w.]*)`")
ASSESSMENTS = (
    "assessments/01_workflow_automation/",
    "assessments/02_rag_chatbot/",
    "assessments/03_saas_ai_agent/",
)
TOPICS = (
    "Concurrency",
    "LLM failure",
    "Validation",
    "Cost",
    "Hallucination",
    "Document updates",
    "Scaling to many companies",
    "Tenant isolation",
    "Webhook failures",
    "Scaling agents",
    "Cost control",
)


def pointers() -> list[tuple[str, str]]:
    return sorted({(m["path"], m["name"]) for m in POINTER.finditer(GUIDE.read_text())})


@cache
def definitions(path: str) -> frozenset[str]:
    """Names a module defines at the top level, and `Class.member` for class members."""
    tree = ast.parse((ROOT / path).read_text(encoding="utf-8"), filename=path)
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            names.add(node.name)
        elif isinstance(node, ast.ClassDef):
            names.add(node.name)
            for member in node.body:
                if isinstance(member, ast.FunctionDef | ast.AsyncFunctionDef):
                    names.add(f"{node.name}.{member.name}")
                elif isinstance(member, ast.AnnAssign) and isinstance(member.target, ast.Name):
                    names.add(f"{node.name}.{member.target.id}")
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return frozenset(names)


def test_the_guide_points_at_code_in_every_assessment() -> None:
    found = pointers()
    assert len(found) >= 40, f"only {len(found)} code pointers in {GUIDE.name}"
    for folder in ASSESSMENTS:
        assert any(path.startswith(folder) for path, _ in found), f"no pointer into {folder}"


def test_the_guide_answers_every_discussion_topic() -> None:
    headings = re.findall(r"(?m)^#{2,4} (.+)$", GUIDE.read_text())
    for topic in TOPICS:
        assert any(topic.lower() in heading.lower() for heading in headings), topic


@pytest.mark.parametrize(("path", "name"), pointers(), ids=lambda value: value)
def test_pointer_names_a_definition_that_exists(path: str, name: str) -> None:
    assert (ROOT / path).is_file(), f"{path} does not exist"
    assert name in definitions(path), f"{path} defines no {name}"

"""The grade report: read the suite's JUnit XML, group by assessment and criterion, render.

Each contract test carries JUnit properties set by `tests/contract/plugin.py`: `assessment`,
`criterion`, `origin` (suite | hidden) and any number of `metric` (a JSON figure).
"""

from __future__ import annotations

import json
import math
import xml.etree.ElementTree as ET
from dataclasses import asdict, dataclass, field
from pathlib import Path

ASSESSMENTS = {
    "service": "Service · /health, /metrics, errors, X-Request-ID",
    "01-workflow": "Assessment 1 · lead-intent workflow (/api/01-workflow)",
    "02-rag": "Assessment 2 · tenant-scoped RAG chatbot (/api/02-rag)",
    "03-saas": "Assessment 3 · multi-tenant AI agent SaaS (/api/03-saas)",
}
CRITERIA = {
    "contract": "contract",
    "bad_input": "bad input",
    "isolation": "isolation",
    "ai_quality": "AI quality",
    "load": "load",
}


@dataclass
class TestResult:
    id: str
    assessment: str
    criterion: str
    origin: str
    outcome: str  # passed | failed | skipped
    duration_s: float
    message: str = ""
    metrics: list[dict] = field(default_factory=list)


def read_junit(path: Path) -> list[TestResult]:
    results = []
    for case in ET.parse(path).iter("testcase"):
        props: dict[str, str] = {}
        metrics = []
        for prop in case.iter("property"):
            name, value = prop.get("name", ""), prop.get("value", "")
            if name == "metric":
                metrics.append(json.loads(value))
            else:
                props[name] = value
        outcome, message = "passed", ""
        for tag in ("failure", "error", "skipped"):
            node = case.find(tag)
            if node is not None:
                outcome = "skipped" if tag == "skipped" else "failed"
                message = node.get("message") or ""
                break
        module = case.get("classname", "").rsplit(".", 1)[-1]
        results.append(
            TestResult(
                id=f"{module}::{case.get('name')}",
                assessment=props.get("assessment", "service"),
                criterion=props.get("criterion", "contract"),
                origin=props.get("origin", "suite"),
                outcome=outcome,
                duration_s=round(float(case.get("time") or 0), 3),
                message=_one_line(message.removeprefix("Failed: ")),
                metrics=metrics,
            )
        )
    return results


def _one_line(text: str, limit: int = 400) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def build(results: list[TestResult], *, target: str, hidden: str | None) -> dict:
    """The report as plain data (what `report.json` holds)."""
    assessments: dict[str, dict] = {}
    for key in [*ASSESSMENTS, *sorted({r.assessment for r in results} - set(ASSESSMENTS))]:
        mine = [r for r in results if r.assessment == key]
        if not mine:
            continue
        criteria = {}
        for criterion in [*CRITERIA, *sorted({r.criterion for r in mine} - set(CRITERIA))]:
            rows = [r for r in mine if r.criterion == criterion]
            if rows:
                criteria[criterion] = _counts(rows)
        assessments[key] = {
            "title": ASSESSMENTS.get(key, key),
            "criteria": criteria,
            "total": _counts(mine),
            "hidden": _counts([r for r in mine if r.origin == "hidden"]),
            "metrics": [
                {**metric, "criterion": r.criterion, "test": r.id, "met": _met(metric)}
                for r in mine
                for metric in r.metrics
            ],
            "failures": [
                {"test": r.id, "criterion": r.criterion, "message": r.message}
                for r in mine
                if r.outcome == "failed"
            ],
        }
    return {
        "target": target,
        "hidden": hidden,
        "totals": _counts(results),
        "assessments": assessments,
        "tests": [asdict(r) for r in results],
    }


def _counts(rows: list[TestResult]) -> dict:
    passed = sum(r.outcome == "passed" for r in rows)
    failed = sum(r.outcome == "failed" for r in rows)
    skipped = sum(r.outcome == "skipped" for r in rows)
    graded = passed + failed
    score = round(passed / graded, 3) if graded else None
    return {"passed": passed, "failed": failed, "skipped": skipped, "score": score}


def _met(metric: dict) -> bool | None:
    target = metric.get("target")
    if target is None:
        return None
    if metric.get("higher_is_better", True):
        return metric["value"] >= target
    return metric["value"] <= target


def _table(headers: list[str], rows: list[list[str]], indent: str = "  ") -> list[str]:
    widths = [max(len(str(x)) for x in column) for column in zip(headers, *rows, strict=True)]
    right = [i > 0 and all(_numeric(row[i]) for row in rows) for i in range(len(headers))]

    def line(cells: list[str]) -> str:
        parts = [
            str(c).rjust(w) if r else str(c).ljust(w)
            for c, w, r in zip(cells, widths, right, strict=True)
        ]
        return indent + "  ".join(parts).rstrip()

    return [line(headers), indent + "  ".join("-" * w for w in widths), *map(line, rows)]


def _numeric(cell: str) -> bool:
    return cell.replace(".", "", 1).replace("%", "").replace("-", "").strip().isdigit() or cell in (
        "—",
        "",
    )


def _pct(score: float | None) -> str:
    """Rounded down, so 199 of 200 never shows as 100%."""
    return "—" if score is None else f"{math.floor(score * 100)}%"


def render(report: dict) -> str:
    lines = [f"Grade report — {report['target']}"]
    if report.get("hidden"):
        lines.append(f"Hidden tests and eval sets from {report['hidden']}")
    if report.get("preflight_error"):
        lines += ["", f"PREFLIGHT FAILED: {report['preflight_error']}", "No test was graded."]
        return "\n".join(lines) + "\n"
    for data in report["assessments"].values():
        lines += ["", data["title"]]
        rows = [
            [
                CRITERIA.get(name, name),
                str(c["passed"]),
                str(c["failed"]),
                str(c["skipped"]),
                _pct(c["score"]),
            ]
            for name, c in data["criteria"].items()
        ]
        t = data["total"]
        rows.append(
            ["total", str(t["passed"]), str(t["failed"]), str(t["skipped"]), _pct(t["score"])]
        )
        lines += _table(["criterion", "passed", "failed", "skipped", "score"], rows)
        h = data["hidden"]
        if h["passed"] + h["failed"] + h["skipped"]:
            lines.append(f"  of which hidden: {h['passed']} passed, {h['failed']} failed")
        if data["metrics"]:
            lines.append("")
            metric_rows = []
            for m in data["metrics"]:
                target = "—" if m["target"] is None else _figure(m["target"], m["unit"])
                status = {True: "met", False: "MISSED", None: ""}[m["met"]]
                metric_rows.append(
                    [m["name"], _figure(m["value"], m["unit"]), target, status, m["detail"]]
                )
            lines += _table(["figure", "value", "target", "", "detail"], metric_rows)
        if data["failures"]:
            lines += ["", "  failed:"]
            lines += [
                f"  - {f['test']} [{f['criterion']}]: {f['message']}" for f in data["failures"]
            ]
    t = report["totals"]
    lines += [
        "",
        f"Total: {t['passed']} passed, {t['failed']} failed, {t['skipped']} skipped "
        f"({_pct(t['score'])} of graded tests passed)",
    ]
    return "\n".join(lines) + "\n"


def _figure(value: float, unit: str) -> str:
    if unit:
        return f"{value:g} {unit}"
    return f"{value:.3f}" if isinstance(value, float) and value <= 1 else f"{value:g}"

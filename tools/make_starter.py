"""Write the candidate's starter: this repository with each assessment's logic cut back to
documented skeletons.

    .venv/bin/python tools/make_starter.py OUT_DIR [--force]

What is copied and what becomes a skeleton is declared below (`COPIED`, `LEFT_OUT`,
`ASSESSMENTS`); the skeletons are generated from the reference with `ast`
(`skeletons.py`), never kept by hand, so every contract test fails by name until it is
built. Schemas, table models, routers (the API surface and OpenAPI stay the reference's),
prompts, sample data, `core/`, `backend/`, the Streamlit apps and the contract suite are
copied as they are. Start-up paths that a lifespan calls are `noop`: they return a neutral
value, so `make demo` starts on the skeletons.
"""

from __future__ import annotations

import argparse
import fnmatch
import re
import shutil
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from skeletons import Skeleton, skeletonise

ROOT = Path(__file__).resolve().parent.parent

# Copied as they are (skeletons are then written over the assessment modules). Tests and
# benchmarks are listed one by one: the reference's own tests would reveal the solution,
# and benchmarks that import an assessment's internals would not fit the candidate's code.
COPIED = (
    ".ci",
    ".gitignore",
    "LICENSE",
    "Makefile",
    "README.md",
    "alembic.ini",
    "migrations",
    "pyproject.toml",
    "assessments",
    "backend",
    "core",
    "data",
    "docs",
    "grader",
    "scripts",
    "streamlit_apps",
    "tests/__init__.py",
    "tests/conftest.py",
    "tests/support.py",
    "tests/services.py",
    "tests/processes.py",
    "tests/core",
    "tests/contract",
    "bench/bench_core.py",
    "bench/bench_vector_search.py",
    "bench/bench_saas.py",
    "bench/saas_support.py",
    "bench/live_server.py",
    "bench/http_load.py",
    "bench/bare_app.py",
    "bench/table.py",
)
LEFT_OUT = (
    "docs/interview-guide.md",
    "assessments/01_workflow_automation/evaluate.py",
    # The evaluations and the answerability trainer, and the trained model: the candidate
    # evaluates and trains their own.
    "assessments/02_rag_chatbot/evaluation",
    "assessments/02_rag_chatbot/answerability_model.json",
)
ALWAYS_IGNORED = ("__pycache__", "*.pyc", ".pytest_cache", ".ruff_cache", "*.egg-info", ".venv")


@dataclass(frozen=True)
class Assessment:
    number: int
    folder: str
    skeletons: tuple[Skeleton, ...]
    # README sections (by the start of their `## ` heading) the starter keeps.
    readme_sections: tuple[str, ...] = ("The assignment", "API")
    # Deliverable documents reduced to their headings.
    outlines: tuple[str, ...] = ()


A1 = "assessments/01_workflow_automation"
A2 = "assessments/02_rag_chatbot"
A3 = "assessments/03_saas_ai_agent"

ASSESSMENTS = (
    Assessment(
        1,
        A1,
        (
            Skeleton(f"{A1}/services.py", noop={"load_sample_leads": "0"}),
            Skeleton(f"{A1}/bulk.py"),
            Skeleton(
                f"{A1}/classifier.py",
                build=("classify_intent", "LocalIntentModel.*"),
                noop={"local_intent_model": "None"},
                drop=("fit_platt", "read_labeled"),
            ),
            Skeleton(f"{A1}/extraction.py"),
            Skeleton(f"{A1}/grounding.py", build=("InputEvidence.*",)),
            Skeleton(f"{A1}/budget.py"),
            Skeleton(f"{A1}/contacts.py"),
            Skeleton(f"{A1}/names.py"),
            Skeleton(f"{A1}/importer.py"),
            Skeleton(f"{A1}/audit.py", build=("*", "StepRecord.*", "AuditTrail.*")),
        ),
    ),
    Assessment(
        2,
        A2,
        (
            Skeleton(f"{A2}/services.py"),
            Skeleton(f"{A2}/chat.py"),
            Skeleton(f"{A2}/history.py"),
            Skeleton(f"{A2}/reading.py"),
            Skeleton(f"{A2}/chunking.py"),
            Skeleton(f"{A2}/ingest.py"),
            Skeleton(f"{A2}/uploads.py"),
            Skeleton(f"{A2}/samples.py", noop={"load_sample_companies": "None"}),
            Skeleton(f"{A2}/retrieval.py", drop=("reciprocal_rank_fusion",)),
            Skeleton(f"{A2}/corpus.py", build=("*", "KeywordIndex.*", "CompanyCorpus.*")),
            Skeleton(f"{A2}/answering.py"),
            Skeleton(f"{A2}/answerability.py", build=("*", "AnswerabilityModel.*", "Assessment.*")),
            Skeleton(f"{A2}/question_terms.py", build=("*", "TermStats.*")),
            Skeleton(f"{A2}/refusal.py"),
            Skeleton(f"{A2}/grounding.py", build=("*", "Unsupported.*")),
            Skeleton(f"{A2}/rewriting.py"),
            Skeleton(f"{A2}/passages.py"),
        ),
    ),
    Assessment(
        3,
        A3,
        (
            Skeleton(f"{A3}/auth/services.py"),
            Skeleton(f"{A3}/auth/tokens.py"),
            Skeleton(
                f"{A3}/tenants/services.py",
                noop={"bootstrap_platform_admin": "None"},
                keep=("new_webhook_secret",),
            ),
            Skeleton(f"{A3}/leads/services.py"),
            Skeleton(f"{A3}/crm/services.py"),
            Skeleton(f"{A3}/audit/services.py"),
            Skeleton(f"{A3}/usage/services.py"),
            Skeleton(f"{A3}/agents/services.py"),
            Skeleton(f"{A3}/agents/rubric.py"),
            Skeleton(f"{A3}/agents/qualifier.py", build=("LeadQualifier.*", "ground_judgements")),
            Skeleton(f"{A3}/agents/reply.py", build=("*", "ReplyAgent.*")),
            Skeleton(f"{A3}/agents/extractor.py", build=("EntityExtractor.*",)),
            Skeleton(f"{A3}/webhooks/services.py"),
            Skeleton(f"{A3}/webhooks/signatures.py"),
            Skeleton(f"{A3}/webhooks/processing.py"),
            Skeleton(f"{A3}/rls.py", noop={"apply_row_level_security": "None"}),
        ),
        outlines=("design.md",),
    ),
)


# --- documents ----------------------------------------------------------------------------


def starter_readme(readme: str, assessment: Assessment, todo: list[str]) -> str:
    """The assessment's README: its title, the sections kept, and what to build."""
    parts = re.split(r"(?m)^(?=## )", readme)
    kept = [parts[0]] + [p for p in parts[1:] if p[3:].startswith(assessment.readme_sections)]
    build = "\n".join(f"- {item}" for item in todo)
    return "".join(kept).rstrip("\n") + (
        "\n\n## Your starter\n\n"
        "The API surface, request and response shapes, tables, routers and prompts are in\n"
        "place. Each function below answers `501 not_implemented`, naming itself, until you\n"
        "build it; `make test` runs the contract suite (`tests/contract/`) that grades it.\n"
        "The ones marked *a no-op at start* run when the app starts and do nothing yet, so\n"
        "`make demo` works before you begin.\n\n"
        f"{build}\n"
    )


def outline(document: str) -> str:
    """A deliverable reduced to its headings, each with a to-do."""
    headings = re.findall(r"(?m)^#{1,6} .*$", document)
    out = [headings[0], ""] if headings else []
    for heading in headings[1:]:
        out += [heading, "", "TODO", ""]
    return "\n".join(out)


BANNER = """
> **Candidate's starter.** Generated from the reference implementation: the API surface,
> schemas, tables, routers, prompts, sample data, shared `core/`, the Streamlit demos and the
> contract suite are here; each assessment's logic is a documented skeleton that answers
> `501 not_implemented` and names what to build (see each assessment's README, section
> "Your starter"). `make demo` starts as is; `make test` shows what is left to do.
"""


def starter_root_readme(readme: str) -> str:
    title, _, rest = readme.partition("\n")
    return f"{title}\n{BANNER}{rest}"


# --- copying ------------------------------------------------------------------------------


def ignore_patterns(root: Path) -> list[str]:
    gitignore = root / ".gitignore"
    patterns = list(ALWAYS_IGNORED)
    if gitignore.exists():
        for line in gitignore.read_text().splitlines():
            if line.strip() and not line.startswith(("#", "!")):
                patterns.append(line.strip())
    return patterns


def ignored(relative: str, is_dir: bool, patterns: list[str]) -> bool:
    for pattern in patterns:
        directory_only = pattern.endswith("/")
        pattern = pattern.rstrip("/")
        if directory_only and not is_dir:
            continue
        if "/" in pattern:
            if fnmatch.fnmatch(relative, pattern.lstrip("/")):
                return True
        elif fnmatch.fnmatch(relative.rsplit("/", 1)[-1], pattern):
            return True
    return False


def copy_tree(root: Path, out: Path) -> None:
    patterns = ignore_patterns(root)
    for entry in COPIED:
        for path in _walk(root / entry, root, patterns):
            target = out / path.relative_to(root)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)


def _walk(path: Path, root: Path, patterns: list[str]) -> Iterable[Path]:
    relative = path.relative_to(root).as_posix()
    if not path.exists() or relative in LEFT_OUT or ignored(relative, path.is_dir(), patterns):
        return
    if path.is_dir():
        for child in sorted(path.iterdir()):
            yield from _walk(child, root, patterns)
    else:
        yield path


def make_starter(out: Path, root: Path = ROOT) -> dict[int, list[str]]:
    """Write the starter into `out`; what each assessment has to build."""
    copy_tree(root, out)
    todo: dict[int, list[str]] = {}
    for assessment in ASSESSMENTS:
        todo[assessment.number] = []
        for spec in assessment.skeletons:
            source = (root / spec.path).read_text(encoding="utf-8")
            text, items = skeletonise(source, spec, number=assessment.number)
            (out / spec.path).write_text(text, encoding="utf-8")
            todo[assessment.number] += items
        readme = root / assessment.folder / "README.md"
        if readme.exists():
            text = starter_readme(
                readme.read_text(encoding="utf-8"), assessment, todo[assessment.number]
            )
            (out / assessment.folder / "README.md").write_text(text, encoding="utf-8")
        for name in assessment.outlines:
            document = (root / assessment.folder / name).read_text(encoding="utf-8")
            (out / assessment.folder / name).write_text(outline(document), encoding="utf-8")
    readme = (root / "README.md").read_text(encoding="utf-8")
    (out / "README.md").write_text(starter_root_readme(readme), encoding="utf-8")
    makefile = out / "Makefile"
    makefile.write_text(without_missing_scripts(makefile.read_text(encoding="utf-8"), out))
    return todo


def without_missing_scripts(makefile: str, out: Path) -> str:
    """The Makefile without the lines that run a script the starter leaves out."""
    lines = makefile.splitlines(keepends=True)
    return "".join(
        line
        for line in lines
        if all((out / path).exists() for path in re.findall(r"[\w./-]+\.(?:py|sh)\b", line))
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="folder to write the starter to (new or empty)")
    parser.add_argument("--force", action="store_true", help="replace a non-empty folder")
    args = parser.parse_args(argv)
    out: Path = args.out.resolve()
    if out == ROOT or ROOT in out.parents:
        parser.error("write the starter outside this repository")
    if out.exists() and any(out.iterdir()):
        if not args.force:
            parser.error(f"{out} is not empty (use --force to replace it)")
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    todo = make_starter(out)
    for number, items in todo.items():
        print(f"assessment {number}: {len(items)} functions to build")
    print(f"starter written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

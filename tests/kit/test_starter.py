"""The candidate's starter (`tools/make_starter.py`): it starts, serves the reference's API
surface, and its contract tests fail by name where the reference passes them.

The starter is generated once into a temporary folder and run with this venv's interpreter
(`PYTHONPATH` = the starter, nothing reinstalled).
"""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from backend.main import create_app
from tests.contract.helpers import wait_for
from tests.processes import START_TIMEOUT, answers
from tests.support import free_port, make_settings

ROOT = Path(__file__).resolve().parents[2]
# One contract test per assessment, plus the OpenAPI check that must pass in both trees.
FAILING_IN_STARTER = (
    "tests/contract/test_01_workflow.py::test_create_lead_returns_201_with_the_spec_fields",
    "tests/contract/test_02_rag.py::test_chat_accepts_the_query_as_a_query_parameter",
    "tests/contract/test_03_saas.py::test_platform_admin_logs_in_with_json",
)
PASSING_IN_BOTH = ("tests/contract/test_service.py::test_openapi_lists_every_spec_route",)
CONTRACT_TESTS = FAILING_IN_STARTER + PASSING_IN_BOTH
LEFT_OUT = (
    "docs/interview-guide.md",
    "tests/a1_workflow",
    "tests/a2_rag",
    "tests/a3_saas",
    "tests/kit",
    "tests/browser",
    "assessments/01_workflow_automation/evaluate.py",
    "bench/bench_workflow.py",
)
KEPT = (
    "README.md",
    "pyproject.toml",
    "Makefile",
    ".ci/run",
    "scripts/demo.sh",
    "scripts/test.sh",
    "streamlit_apps/Home.py",
    "tests/conftest.py",
    "tests/contract/helpers.py",
    "data/leads/sample_leads.json",
    "assessments/01_workflow_automation/prompts/classify.txt",
)
VERBATIM = (
    "core/config.py",
    "backend/main.py",
    "assessments/01_workflow_automation/routers.py",
    "assessments/01_workflow_automation/schemas.py",
    "assessments/03_saas_ai_agent/leads/models.py",
    "tests/contract/test_01_workflow.py",
)

# Imports every module of the starter's assessments, then serves the app as `make demo` does.
SERVE = """
import importlib, pathlib, sys
import uvicorn
starter = pathlib.Path.cwd()
for path in sorted((starter / "assessments").rglob("*.py")):
    importlib.import_module(".".join(path.relative_to(starter).with_suffix("").parts))
import backend.main
assert pathlib.Path(backend.main.__file__).is_relative_to(starter), backend.main.__file__
uvicorn.run("backend.main:app", host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
"""


# The slow contract runs start before the first test and overlap the others.
pytestmark = pytest.mark.usefixtures("contract_runs")


@pytest.fixture(scope="module")
def starter(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("starter") / "candidate"
    done = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "make_starter.py"), str(out)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "starter written to" in done.stdout
    return out


def clean_env() -> dict[str, str]:
    """This environment without the settings that would point a server elsewhere."""
    dropped = ("SAAS_", "CONTRACT_", "CELERY_", "REDIS_", "OPENAI_", "DATABASE_", "DATA_DIR")
    return {k: v for k, v in os.environ.items() if not k.startswith(dropped)}


def starter_env(starter: Path, data_dir: Path, **extra: str) -> dict[str, str]:
    return {
        **clean_env(),
        "PYTHONPATH": str(starter),
        "DATA_DIR": str(data_dir),
        "DATABASE_URL": f"sqlite:///{data_dir / 'app.db'}",
        "ENVIRONMENT": "test",
        "LLM_PROVIDER": "local",
        "EMBEDDING_PROVIDER": "local",
        "LOG_FORMAT": "json",
        "LOG_LEVEL": "WARNING",
        **extra,
    }


@pytest.fixture(scope="module")
def starter_server(starter: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The starter served by uvicorn with sample data on, after importing all its modules."""
    port = free_port()
    data_dir = tmp_path_factory.mktemp("starter-data")
    log = data_dir / "server.log"
    with log.open("w") as output:
        server = subprocess.Popen(
            [sys.executable, "-c", SERVE, str(port)],
            cwd=starter,
            env=starter_env(starter, data_dir, LOAD_SAMPLE_DATA="true"),
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(
            lambda: server.poll() is not None or answers(f"{url}/health"),
            timeout=START_TIMEOUT,
            what="the starter's backend",
        )
        if server.poll() is not None:
            pytest.fail(f"the starter's backend exited at start:\n{log.read_text()[-3000:]}")
        yield url
    finally:
        server.terminate()
        server.wait(timeout=10)


class ContractRun:
    """Some contract tests in a pytest subprocess (the suite serves that tree's app in-process)."""

    def __init__(self, tree: Path, env: dict[str, str], folder: Path) -> None:
        self.report = folder / "junit.xml"
        self.output = folder / "pytest.log"
        with self.output.open("w") as output:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *CONTRACT_TESTS]
                + [f"--junitxml={self.report}", "-o", "junit_family=xunit1"],
                cwd=tree,
                env=env,
                stdout=output,
                stderr=subprocess.STDOUT,
            )

    @property
    def log(self) -> str:
        return self.output.read_text()

    def results(self) -> dict[str, tuple[str, str]]:
        self.process.wait(timeout=180)
        assert self.report.exists(), self.log[-3000:]
        return outcomes(self.report)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


@pytest.fixture(scope="module")
def contract_runs(
    starter: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, ContractRun]]:
    """The same contract tests in the starter and in the reference, started at once and
    first (see `pytestmark`), so they run while the other checks do."""
    starter_dir = tmp_path_factory.mktemp("contract-starter")
    reference_dir = tmp_path_factory.mktemp("contract-reference")
    runs = {
        "starter": ContractRun(starter, starter_env(starter, starter_dir), starter_dir),
        "reference": ContractRun(ROOT, {**clean_env(), "PYTHONPATH": str(ROOT)}, reference_dir),
    }
    yield runs
    for run in runs.values():
        run.stop()


def outcomes(report: Path) -> dict[str, tuple[str, str]]:
    """`test name -> (passed | failed | error | skipped, message)` from a JUnit XML report."""
    results = {}
    for case in ET.parse(report).iter("testcase"):
        outcome, message = "passed", ""
        for kind in ("failure", "error", "skipped"):
            element = case.find(kind)
            if element is not None:
                outcome = {"failure": "failed"}.get(kind, kind)
                message = (element.get("message") or "") + (element.text or "")
        results[case.get("name", "")] = (outcome, message)
    return results


def test_starter_leaves_out_the_solution_and_keeps_the_scaffolding(starter: Path) -> None:
    for path in LEFT_OUT:
        assert not (starter / path).exists(), f"{path} must not be in the starter"
    for path in KEPT:
        assert (starter / path).is_file(), f"{path} is missing from the starter"
    for path in VERBATIM:
        assert (starter / path).read_bytes() == (ROOT / path).read_bytes(), path
    assert not list(starter.rglob("*.db")), "runtime files must not be copied"
    services = (starter / "assessments/01_workflow_automation/services.py").read_text()
    assert 'code="not_implemented"' in services
    assert "status_code=501" in services
    assert "def create_lead(" in services
    assert "_fingerprint" not in services, "private helpers of the solution are left out"
    answerability = (starter / "assessments/02_rag_chatbot/answerability.py").read_text()
    assert "def features(" in answerability and "def assess(" in answerability
    assert "SUPPORT_COVERAGE_WEIGHT *" not in answerability, "the refusal check is a skeleton too"
    refusal = (starter / "assessments/02_rag_chatbot/refusal.py").read_text()
    assert "REFUSAL_MESSAGE = (" in refusal and "def gate(" in refusal
    readme = (starter / "assessments/01_workflow_automation/README.md").read_text()
    assert "## Your starter" in readme
    assert "## Decisions" not in readme
    design = (starter / "assessments/03_saas_ai_agent/design.md").read_text()
    assert "TODO" in design


def test_starter_benchmarks_find_the_modules_they_import(starter: Path) -> None:
    # A benchmark runs as `python bench/x.py`, so its sibling modules are plain imports.
    for bench in (starter / "bench").glob("*.py"):
        for node in ast.walk(ast.parse(bench.read_text())):
            names = [node.module] if isinstance(node, ast.ImportFrom) and node.module else []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            for name in names:
                if (ROOT / "bench" / f"{name}.py").is_file():
                    assert (starter / "bench" / f"{name}.py").is_file(), f"{bench.name}: {name}"


def test_starter_serves_the_reference_openapi(starter_server: str, tmp_path: Path) -> None:
    served = httpx.get(f"{starter_server}/openapi.json", timeout=10).json()["paths"]
    reference = create_app(make_settings(tmp_path)).openapi()["paths"]
    assert served == json.loads(json.dumps(reference))


def test_starter_is_lint_clean(starter: Path) -> None:
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent))
    if ruff is None:
        pytest.skip("ruff is not installed in this venv")
    for command in (["check"], ["format", "--check"]):
        done = subprocess.run(
            [ruff, *command, "--no-cache", "assessments"],
            cwd=starter,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stdout + done.stderr


def test_starter_backend_starts_and_answers_501_naming_what_to_build(starter_server: str) -> None:
    assert httpx.get(f"{starter_server}/health", timeout=10).status_code == 200
    response = httpx.post(
        f"{starter_server}/api/01-workflow/leads", json={"message": "A demo, please"}, timeout=10
    )
    assert response.status_code == 501
    error = response.json()["error"]
    assert error["code"] == "not_implemented"
    assert "Assessment 1: implement create_lead in" in error["message"]
    assert "assessments/01_workflow_automation/services.py" in error["message"]


def test_contract_tests_fail_by_name_in_the_starter_and_pass_in_the_reference(
    contract_runs: dict[str, ContractRun],
) -> None:
    results = {name: run.results() for name, run in contract_runs.items()}
    for node_id in FAILING_IN_STARTER:
        name = node_id.split("::")[-1]
        outcome, message = results["starter"].get(name, ("missing", ""))
        assert outcome == "failed", (node_id, outcome, contract_runs["starter"].log[-2000:])
        assert "not_implemented" in message, (node_id, message[:1000])
        assert "Assessment " in message and ": implement " in message, message[:1000]
    for name, (outcome, message) in results["reference"].items():
        assert outcome == "passed", (name, message[:1000], contract_runs["reference"].log[-2000:])
    assert len(results["reference"]) == len(results["starter"]) >= len(CONTRACT_TESTS)
    for name, (outcome, message) in results["starter"].items():
        if name.startswith("test_openapi_lists_every_spec_route"):
            assert outcome == "passed", (name, message[:1000])

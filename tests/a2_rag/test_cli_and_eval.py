"""The command-line entries: folder ingestion, and the evaluation with measured floors."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from core.config import PROJECT_ROOT, Settings

evaluate = importlib.import_module("assessments.02_rag_chatbot.evaluation.evaluate")

INGEST_SCRIPT = PROJECT_ROOT / "assessments" / "02_rag_chatbot" / "ingest_cli.py"


def run_ingest(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "DATA_DIR": str(data_dir),
        "LLM_PROVIDER": "local",
        "EMBEDDING_PROVIDER": "local",
        "LOG_LEVEL": "WARNING",
    }
    env.pop("DATABASE_URL", None)
    return subprocess.run(
        [sys.executable, str(INGEST_SCRIPT), *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=data_dir.parent,  # no stray .env is read
        timeout=300,
        check=False,
    )


def test_ingest_script_ingests_a_folder_and_skips_unchanged_files(tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "faq.md").write_text("# FAQ\n\nInitech support answers within 4 hours.")
    (folder / "ignored.csv").write_text("a,b\n1,2")
    data_dir = tmp_path / "data"

    first = run_ingest(data_dir, "--company", "initech", str(folder))
    second = run_ingest(data_dir, "--company", "initech", str(folder))

    assert first.returncode == 0, first.stderr
    assert "created  faq.md" in first.stdout
    assert "ignored.csv" not in first.stdout
    assert "unchanged  faq.md" in second.stdout
    assert (data_dir / "faiss_indexes" / "initech.faiss").exists()


def test_ingest_script_reports_a_bad_file_and_exits_non_zero(tmp_path: Path) -> None:
    bad = tmp_path / "broken.pdf"
    bad.write_bytes(b"%PDF-1.4 not really")

    result = run_ingest(tmp_path / "data", "--company", "initech", str(bad))

    assert result.returncode == 1
    assert "broken.pdf" in result.stderr


@pytest.mark.anyio
async def test_eval_on_the_local_provider_meets_the_measured_floors(
    sample_settings: Settings,
) -> None:
    report = await evaluate.run(sample_settings)

    # Measured (README): hit@4 1.00, MRR 0.92, refusal precision 0.846 / recall 0.500,
    # fact recall 0.725, citation correctness 1.00: floors a little under them. Recall is
    # the price of the precision-first answerability model (README, "The refusal").
    assert report.hit_rate >= 0.90
    assert report.mrr >= 0.80
    assert report.citation_correctness == 1.0
    assert report.refusal_precision >= 0.80
    assert report.refusal_recall >= 0.45
    assert report.refused("off_topic") == 1.0
    assert report.fact_recall >= 0.65

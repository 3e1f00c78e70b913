"""Run the contract suite and print a grade report per assessment and criterion.

    .venv/bin/python -m grader                                  # the reference, in-process
    .venv/bin/python -m grader --base-url http://127.0.0.1:8000 # any server speaking SPEC §4
    .venv/bin/python -m grader --hidden ~/hidden-tests --out reports/

Writes `report.txt`, `report.json` and `junit.xml` to `--out` (default `reports/`). Exit
status: 0 all graded tests passed, 1 some failed, 2 the suite could not run (preflight).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

from grader.report import build, read_junit, render

ROOT = Path(__file__).resolve().parent.parent
PREFLIGHT = re.compile(r"contract preflight: (.*?)(?:\s*!+)?\s*$")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m grader", description=__doc__.splitlines()[0])
    # The suite reads the same variables; defaulting to them keeps the report's target right.
    parser.add_argument(
        "--base-url",
        default=os.environ.get("CONTRACT_BASE_URL") or None,
        help="server to grade (default: the app in-process; env CONTRACT_BASE_URL)",
    )
    parser.add_argument(
        "--hidden",
        default=os.environ.get("GRADER_HIDDEN_DIR"),
        help="folder of hidden tests and eval sets (env GRADER_HIDDEN_DIR)",
    )
    parser.add_argument("--out", default="reports", help="output folder (default: reports/)")
    parser.add_argument("--quiet", action="store_true", help="do not echo pytest's progress")
    parser.add_argument("pytest_args", nargs="*", help="extra pytest arguments, after --")
    return parser.parse_args(argv)


def run_suite(args: argparse.Namespace, junit: Path) -> tuple[int, str]:
    command = [
        sys.executable, "-m", "pytest",
        "-p", "tests.contract.plugin",
        str(ROOT / "tests" / "contract"),
        "--ignore", str(ROOT / "tests" / "contract" / "test_kit.py"),
        "--rootdir", str(ROOT), "-c", str(ROOT / "pyproject.toml"),
        "--junitxml", str(junit), "-o", "junit_suite_name=contract",
        "-q", "--tb=no", "-rN", "-p", "no:warnings",
    ]  # fmt: skip
    if args.base_url:
        command += ["--base-url", args.base_url]
    if args.hidden:
        command += ["--hidden", str(Path(args.hidden).expanduser().resolve())]
    command += args.pytest_args
    process = subprocess.Popen(
        command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    output = []
    assert process.stdout is not None
    for line in process.stdout:
        output.append(line)
        if not args.quiet:
            sys.stdout.write(line)
            sys.stdout.flush()
    return process.wait(), "".join(output)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    out = Path(args.out).expanduser().resolve()
    out.mkdir(parents=True, exist_ok=True)
    junit = out / "junit.xml"
    junit.unlink(missing_ok=True)
    started = time.monotonic()
    code, output = run_suite(args, junit)

    preflight = next(
        (m.group(1) for line in output.splitlines() if (m := PREFLIGHT.search(line))), None
    )
    if not junit.exists():
        tail = "".join(output.splitlines(keepends=True)[-15:])
        print(f"\nThe contract suite did not run (pytest exit status {code}):\n{tail}")
        return 2
    target = args.base_url or "reference app in-process (backend.main)"
    report = build(read_junit(junit), target=target, hidden=args.hidden)
    report |= {
        "pytest_exit_status": code,
        "preflight_error": preflight,
        "duration_s": round(time.monotonic() - started, 1),
    }
    text = render(report)
    (out / "report.txt").write_text(text)
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    print("\n" + text + f"\nWritten: {out / 'report.txt'}, {out / 'report.json'}, {junit}")
    if preflight:
        return 2
    return 0 if report["totals"]["failed"] == 0 and code in (0, 1) else 1


if __name__ == "__main__":
    sys.exit(main())

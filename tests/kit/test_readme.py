"""The READMEs' examples run as written, and the demo command does what the README says.

Shell examples are read from the ```bash blocks. The blocks of one README that call the API
run in order in one bash, as a reader pastes them into one shell, against a server started
as `make demo` starts it (sample data loaded) on a free port instead of 8000: every call must
answer 2xx and no question may be refused. The demo script is run only up to its checks of
API_PORT and UI_PORT, which come before anything is installed or started.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import tomllib
from pathlib import Path

import pytest

from tests.processes import api_server, process_env
from tests.support import free_port

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
READMES = [README, *sorted((ROOT / "assessments").glob("*/README.md"))]
BASH_BLOCK = re.compile(r"```bash\n(.*?)```", re.S)


def _bash_blocks(path: Path) -> list[str]:
    return BASH_BLOCK.findall(path.read_text(encoding="utf-8"))


@pytest.mark.parametrize("readme", READMES, ids=lambda path: str(path.relative_to(ROOT)))
def test_every_file_a_readme_example_uploads_is_in_the_repository(readme: Path) -> None:
    examples = "\n".join(_bash_blocks(readme))
    sent = re.findall(r"=@([\w./-]+)", examples)

    # A file the example writes itself (`> /tmp/name`) need not be in the repository.
    missing = [name for name in sent if not (ROOT / name).is_file() and f"> {name}" not in examples]

    assert not missing, f"{readme.name} uploads files that are not in the repository: {missing}"


def test_every_variable_a_top_level_readme_example_uses_is_set_in_that_example() -> None:
    for block in _bash_blocks(README):
        assigned = set(re.findall(r"^(?:export )?([A-Z_][A-Z0-9_]*)=", block, re.M))
        used = set(re.findall(r"\$\{?([A-Z_][A-Z0-9_]*)", block))

        assert used <= assigned, f"never set: {sorted(used - assigned)} in\n{block}"


def test_the_license_is_an_spdx_expression_that_the_build_backend_reads() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    requires = " ".join(pyproject["build-system"]["requires"])
    minimum = re.search(r"setuptools>=(\d+)", requires)

    assert pyproject["project"]["license"] == "MIT"
    assert minimum is not None and int(minimum.group(1)) >= 77  # PEP 639 support


# What the examples run under: a failed call stops the example and shows the answer.
PRELUDE = """set -euo pipefail
curl() { command curl --silent --show-error --fail-with-body "$@"; echo; }
"""
REFUSED = re.compile(r'"refused":\s*true')


@pytest.mark.parametrize("readme", READMES, ids=lambda path: str(path.relative_to(ROOT)))
def test_the_api_examples_of_a_readme_run_against_a_live_server(
    readme: Path, sample_data: Path, tmp_path: Path
) -> None:
    for tool in ("curl", "jq"):
        if shutil.which(tool) is None:
            pytest.fail(f"the README examples need {tool}")
    blocks = [block for block in _bash_blocks(readme) if "curl " in block]
    data_dir = tmp_path / "data"
    shutil.copytree(sample_data, data_dir)  # as the demo's first start leaves it
    env = process_env(
        data_dir, DATABASE_URL=f"sqlite:///{data_dir / 'test.db'}", LOAD_SAMPLE_DATA="true"
    )

    with api_server(env, tmp_path / "server.log") as server:
        address = server.url.removeprefix("http://")
        script = "\n".join(blocks)
        script = script.replace("localhost:8000", address).replace("127.0.0.1:8000", address)
        result = subprocess.run(
            ["bash", "-c", PRELUDE + script],
            cwd=ROOT,
            env={**os.environ, "TMPDIR": str(tmp_path)},
            capture_output=True,
            text=True,
            timeout=300,
        )

    assert blocks, f"{readme.name} has no API example"
    assert result.returncode == 0, f"{result.stderr[-3000:]}\n--- output:\n{result.stdout[-3000:]}"
    output = result.stdout + result.stderr  # `tee /dev/stderr` shows an answer it also reads
    assert not REFUSED.search(output), f"a question was refused:\n{output[-3000:]}"


def _demo(**ports: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **ports}
    return subprocess.run(
        ["bash", "scripts/demo.sh"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize("name", ["API_PORT", "UI_PORT"])
def test_the_demo_stops_at_once_naming_a_port_already_in_use(name: str) -> None:
    ports = {"API_PORT": str(free_port()), "UI_PORT": str(free_port())}
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        ports[name] = str(busy.getsockname()[1])

        result = _demo(**ports)

    assert result.returncode == 1
    assert f"Port {ports[name]} is already in use" in result.stderr
    assert f"make demo {name}=" in result.stderr


@pytest.mark.parametrize(
    "ports",
    [{"API_PORT": "http"}, {"UI_PORT": "70000"}, {"API_PORT": "8600", "UI_PORT": "8600"}],
)
def test_the_demo_refuses_port_settings_that_cannot_work(ports: dict[str, str]) -> None:
    result = _demo(**ports)

    assert result.returncode == 1
    assert "PORT" in result.stderr

"""The READMEs' examples run as written, and the demo command does what the README says.

Shell examples are read from the ```bash blocks; the demo script is run only up to its
checks of API_PORT and UI_PORT, which come before anything is installed or started.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import tomllib
from pathlib import Path

import pytest

from tests.support import free_port

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
READMES = [README, *sorted((ROOT / "assessments").glob("*/README.md"))]
BASH_BLOCK = re.compile(r"```bash\n(.*?)```", re.S)


def _bash_blocks(path: Path) -> list[str]:
    return BASH_BLOCK.findall(path.read_text(encoding="utf-8"))


@pytest.mark.parametrize("readme", READMES, ids=lambda path: str(path.relative_to(ROOT)))
def test_every_file_a_readme_example_uploads_is_in_the_repository(readme: Path) -> None:
    sent = [name for block in _bash_blocks(readme) for name in re.findall(r"=@([\w./-]+)", block)]

    missing = [name for name in sent if not (ROOT / name).is_file()]

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

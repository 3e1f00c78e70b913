"""No tracked file holds a string shaped like a provider's credential.

Tests that need a key make one up at run time (`tests.support.fake_openai_key`,
`fake_webhook_secret`), and the docs write `whsec_…`, so a literal of these shapes in the
tree is either a leak or a sample that a secret scanner cannot tell from one. The shapes
are the providers' documented prefixes; a plain regex keeps this check readable and
dependency-free.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
KEY_SHAPES = {
    "OpenAI": r"sk-(?:proj-)?[A-Za-z0-9_-]{16,}",
    "Anthropic": r"sk-ant-[A-Za-z0-9_-]{16,}",
    "Standard Webhooks": r"whsec_[A-Za-z0-9+/]{16,}={0,2}",
    "Stripe": r"\b[spr]k_(?:live|test)_[A-Za-z0-9]{16,}",
    "AWS": r"\bAKIA[0-9A-Z]{16}\b",
    "GitHub": r"\bgh[pousr]_[A-Za-z0-9]{30,}",
    "Slack": r"\bxox[abprs]-[A-Za-z0-9-]{10,}",
    "Google": r"\bAIza[0-9A-Za-z_-]{35}",
    "Hugging Face": r"\bhf_[A-Za-z0-9]{30,}",
    "GitLab": r"\bglpat-[A-Za-z0-9_-]{20,}",
    "private key": r"-----BEGIN (?:RSA |EC |OPENSSH )?PRIVATE KEY-----",
    # Any quoted sk- literal given as the key, however short: scanners flag the assignment.
    "OpenAI key literal": r"OPENAI_API_KEY[\"']?\s*[:=]\s*[\"']sk-",
}
PATTERN = re.compile("|".join(f"(?:{shape})" for shape in KEY_SHAPES.values()).encode())


def tracked_files() -> list[Path]:
    try:
        listed = subprocess.run(
            ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout: the tracked files cannot be listed")
    return [ROOT / name for name in listed.decode().split("\0") if name]


def test_no_tracked_file_holds_a_key_shaped_string() -> None:
    found = [
        f"{path.relative_to(ROOT)}: {match.group().decode(errors='replace')[:12]}…"
        for path in tracked_files()
        if path.is_file()
        for match in PATTERN.finditer(path.read_bytes())
    ]

    assert found == []


def test_the_shapes_catch_the_samples_that_were_once_committed() -> None:
    """The check must see what it is for: keys of these shapes, made up here at run time."""
    samples = [
        "sk-proj-" + "a1B2" * 5,
        "whsec_" + "QmFzZTY0" * 4,
        "AKIA" + "ABCD2345" * 2,
        "ghp_" + "x9" * 18,
    ]

    assert [bool(PATTERN.search(sample.encode())) for sample in samples] == [True] * 4
    assert PATTERN.search(("OPENAI_API_KEY=" + '"sk-' + 'test"').encode())
    assert not PATTERN.search(b"whsec_\xe2\x80\xa6 and sk-abc")
    assert not PATTERN.search(b"export OPENAI_API_KEY=sk-...")  # the README's placeholder

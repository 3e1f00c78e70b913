"""Prompts live as files under each assessment's `prompts/` folder.

A prompt's version is its file name plus a hash of its text, recorded with
every output it produced, so prompt changes can be compared in audits.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from string import Template


@dataclass(frozen=True)
class Prompt:
    name: str
    text: str

    @property
    def version(self) -> str:
        return f"{self.name}@{hashlib.sha256(self.text.encode()).hexdigest()[:12]}"

    def render(self, **values: object) -> str:
        """Fill `$placeholders`; braces stay literal so prompts can show JSON."""
        return Template(self.text).substitute({k: str(v) for k, v in values.items()})


@cache
def load_prompt(folder: Path, name: str) -> Prompt:
    return Prompt(name=name, text=(folder / name).read_text(encoding="utf-8").strip())

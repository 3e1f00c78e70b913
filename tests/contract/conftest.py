"""The contract suite's options and fixtures live in `tests/contract/plugin.py`, so hidden
tests outside this folder can load them too (`-p tests.contract.plugin`). This conftest loads
the plugin once, early enough for its options when pytest is pointed at this folder."""

from __future__ import annotations

import pytest

PLUGIN = "tests.contract.plugin"


def pytest_addoption(parser: pytest.Parser, pluginmanager: pytest.PytestPluginManager) -> None:
    pluginmanager.import_plugin(PLUGIN)

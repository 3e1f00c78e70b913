"""A failed browser test leaves a screenshot of the page it failed on."""

from __future__ import annotations

from collections.abc import Generator

import pytest

from tests.browser.webdriver import Browser, WebDriverError

SCREENSHOTS = "screenshots"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    browser = getattr(item, "funcargs", {}).get("browser")
    if report.when == "call" and report.failed and isinstance(browser, Browser):
        path = item.config.rootpath / SCREENSHOTS / f"failed_{item.name}.png"
        try:
            browser.screenshot(path)
            report.sections.append(("screenshot", str(path)))
        except WebDriverError:
            pass
    return report

"""A small W3C WebDriver client over `httpx`, driving Debian's chromium through its chromedriver.

No browser download and no extra dependency: `/usr/bin/chromedriver` (package
`chromium-driver`) is started on a free port with `/usr/bin/chromium` as the browser, and the
few WebDriver commands a smoke test needs are plain JSON over HTTP
(https://www.w3.org/TR/webdriver2/).
"""

from __future__ import annotations

import base64
import os
import re
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx

from tests.support import free_port

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
)
ELEMENT = "element-6066-11e4-a52e-4f735466cecf"
T = TypeVar("T")


class WebDriverError(Exception):
    pass


def stop_process_group(process: subprocess.Popen[Any], timeout: float = 10) -> None:
    """Stop a process started with `start_new_session=True`, and everything it started."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=timeout)
    except ProcessLookupError:
        pass


class Browser:
    """One headless chromium session: open pages, find and use elements, take screenshots."""

    def __init__(self, *, profile_dir: Path, log_path: Path, width: int = 1400, height: int = 2000):
        port = free_port()
        self._log = log_path.open("w")
        self._driver = subprocess.Popen(
            [str(CHROMEDRIVER), f"--port={port}"],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self._http = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60)
        self.session_id = ""
        try:
            self._wait_until_ready()
            args = [*CHROMIUM_FLAGS, f"--user-data-dir={profile_dir}"]
            args.append(f"--window-size={width},{height}")
            capabilities = {
                "browserName": "chrome",
                "goog:chromeOptions": {"binary": str(CHROMIUM), "args": args},
            }
            value = self._call("POST", "/session", {"capabilities": {"alwaysMatch": capabilities}})
            self.session_id = value["sessionId"]
        except BaseException:
            self.quit()
            raise

    def _wait_until_ready(self, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._driver.poll() is not None:
                raise WebDriverError(f"chromedriver exited with {self._driver.returncode}")
            try:
                if self._http.get("/status").json()["value"]["ready"]:
                    return
            except (httpx.TransportError, ValueError, KeyError):
                pass
            time.sleep(0.1)
        raise WebDriverError("chromedriver did not become ready")

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        if method == "POST" and body is None:
            body = {}
        response = self._http.request(method, path, json=body)
        value = response.json().get("value")
        if response.status_code >= 400:
            error = value or {}
            raise WebDriverError(f"{error.get('error')}: {str(error.get('message'))[:300]}")
        return value

    def _session(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        return self._call(method, f"/session/{self.session_id}{path}", body)

    # --- pages --------------------------------------------------------------------------

    def open(self, url: str) -> None:
        self._session("POST", "/url", {"url": url})

    def text(self) -> str:
        """The visible text of the page."""
        return str(self._session("POST", "/execute/sync", {"script": SCRIPT_TEXT, "args": []}))

    def screenshot(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(self._session("GET", "/screenshot")))
        return path

    # --- elements -----------------------------------------------------------------------

    def find_all(self, xpath: str) -> list[str]:
        found = self._session("POST", "/elements", {"using": "xpath", "value": xpath})
        return [element[ELEMENT] for element in found]

    def find(self, xpath: str, *, timeout: float = 30) -> str:
        """The first element matching `xpath` that is displayed, waiting for it."""

        def displayed() -> str | None:
            for element in self.find_all(xpath):
                if self._session("GET", f"/element/{element}/displayed"):
                    return element
            return None

        return self.wait_for(displayed, timeout=timeout, what=f"element {xpath}")

    def click(self, xpath: str, *, timeout: float = 30) -> None:
        element = self.find(xpath, timeout=timeout)
        self._session(
            "POST", "/execute/sync", {"script": SCRIPT_SCROLL, "args": [{ELEMENT: element}]}
        )
        self._session("POST", f"/element/{element}/click")

    def type(self, xpath: str, text: str, *, clear: bool = True) -> None:
        element = self.find(xpath)
        if clear:
            self._session("POST", f"/element/{element}/clear")
        self._session("POST", f"/element/{element}/value", {"text": text})

    def value(self, xpath: str) -> str:
        """What an input or text area holds now (its `value` property)."""
        element = self.find(xpath)
        return str(self._session("GET", f"/element/{element}/property/value") or "")

    def wait_for(self, check: Callable[[], T | None], *, timeout: float, what: str) -> T:
        deadline = time.monotonic() + timeout
        while True:
            try:
                result = check()
            except WebDriverError:
                result = None  # the page re-rendered under us; look again
            if result:
                return result
            if time.monotonic() > deadline:
                raise WebDriverError(f"timed out after {timeout:.0f}s waiting for {what}")
            time.sleep(0.25)

    def wait_for_text(self, *patterns: str, timeout: float = 30) -> str:
        """The page text once every regular expression in `patterns` matches it."""

        def found() -> str | None:
            text = self.text()
            return text if all(re.search(pattern, text) for pattern in patterns) else None

        return self.wait_for(found, timeout=timeout, what=" and ".join(map(repr, patterns)))

    def quit(self) -> None:
        try:
            if self.session_id:
                self._session("DELETE", "")
        except (WebDriverError, httpx.HTTPError):
            pass
        finally:
            self._http.close()
            stop_process_group(self._driver)
            self._log.close()


SCRIPT_TEXT = "return document.body ? document.body.innerText : '';"
SCRIPT_SCROLL = "arguments[0].scrollIntoView({block: 'center'});"
ENTER = "\ue007"


def button(label: str) -> str:
    """XPath of a button whose visible text is `label`."""
    return f'//button[normalize-space(.)="{label}"]'


def tab(label: str) -> str:
    """XPath of a Streamlit tab by its label."""
    return f'//*[@role="tab"][normalize-space(.)="{label}"]'


def field(label: str, tag: str = "*[self::input or self::textarea]") -> str:
    """XPath of an input or text area by its Streamlit label (its aria-label)."""
    return f'//{tag}[@aria-label="{label}"]'

"""A comparison's ``report.html`` in a real browser: Debian's ``chromium``, headless, driven by Playwright.

No browser is downloaded (``executable_path`` points at the system one) and nothing may leave the page.
:func:`assert_report_sound` holds what every report page must satisfy, so any test that produced one (the
fixture rows here, a real tiny comparison elsewhere) checks it the same way::

    from browser_helpers import assert_report_sound, chromium, load_report  # noqa: F401  (chromium: fixture)

    def test_...(chromium, tmp_path):  # noqa: F811
        view = load_report(chromium, out / "report.html")
        assert_report_sound(view, rows=len(rows), screenshot=tmp_path / "report.png")
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-dev-shm-usage"]   # containers give /dev/shm 64 MB, too little for chromium's renderer
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    """One headless chromium per test module; skips with the reason where chromium or Playwright is absent."""
    executable = CHROMIUM if Path(CHROMIUM).is_file() else shutil.which("chromium")
    if executable is None:
        pytest.skip("Debian's chromium is not installed (apt-get install chromium; .ci/run installs it)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (trtbench[dev])")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_FLAGS)
        yield browser
        browser.close()


@dataclass
class ReportView:
    """A loaded page with what it logged as an error and every URL it requested, from the first byte on."""

    page: Any
    errors: list[str]
    requests: list[str]


def load_report(browser: Any, path: Path) -> ReportView:
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    page.set_default_timeout(5000)   # a missing element fails in seconds, not Playwright's 30
    view = ReportView(page, [], [])
    page.on("console", lambda msg: view.errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: view.errors.append(str(exc)))
    page.on("request", lambda request: view.requests.append(request.url))
    page.goto(path.as_uri(), wait_until="load")
    return view


def assert_report_sound(view: ReportView, rows: int, screenshot: Path) -> None:
    """The table shows ``rows`` cells, every plot image decoded, no console error, no request left the file,
    and a full-page screenshot is written to ``screenshot`` (a non-empty PNG)."""
    page = view.page
    assert page.locator("table.cells tbody tr").count() == rows
    images = page.evaluate("Array.from(document.images, i => [i.complete, i.naturalWidth, i.src.slice(0, 22)])")
    assert images, "the page shows no plot"
    assert all(done and width > 0 and src == "data:image/png;base64," for done, width, src in images), images
    page.screenshot(path=str(screenshot), full_page=True)
    assert screenshot.stat().st_size > 0 and screenshot.read_bytes()[:8] == PNG_SIGNATURE
    assert view.errors == []
    assert view.requests and all(url.startswith(("file://", "data:")) for url in view.requests), view.requests

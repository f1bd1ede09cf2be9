"""`medgen errors serve` end to end in a real headless Chromium (Debian's, driven by Selenium).

Starts the real server in a subprocess, tags errors with the keyboard and the form, sees the
tally change, restarts the server and sees the tags still there. Skipped only where Debian's
chromium / chromium-driver are not installed (CI installs them: .ci/run).
"""

from __future__ import annotations

import http.client
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait
from web_support import SECRET, WebProject, build_web_project

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
    "--window-size=1280,1000",
)
WAIT_S = 20  # the server's start (imports torch) and each page change

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not (CHROMIUM.exists() and CHROMEDRIVER.exists()),
        reason="needs Debian's chromium and chromium-driver (apt-get install chromium "
        "chromium-driver; .ci/run does)",
    ),
]


def free_port() -> int:
    """A TCP port nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def serving(web: WebProject, log: Path) -> Iterator[str]:
    """`python -m medgen errors serve` on a free port until the block ends; yields its URL."""
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "medgen",
        "errors",
        "serve",
        "--predictions",
        str(web.predictions),
        "--project",
        str(web.project),
        "--port",
        str(port),
        "--author",
        "browser",
    ]
    with log.open("ab") as out:
        server = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(server, url, log)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def wait_until_up(server: subprocess.Popen[bytes], url: str, log: Path) -> None:
    """Poll the gallery until it answers 200; fail with the server's log if it died."""
    deadline = time.monotonic() + WAIT_S * 2
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"the server exited ({server.returncode}):\n{log.read_text()}")
        try:
            with urllib.request.urlopen(f"{url}/gallery", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.2)
    pytest.fail(f"the server did not answer within {2 * WAIT_S} s:\n{log.read_text()}")


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[WebDriver]:
    """Headless Debian Chromium with a fresh profile, no network but localhost."""
    options = Options()
    options.binary_location = str(CHROMIUM)
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path / 'chromium-profile'}")
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(WAIT_S)
    try:
        yield driver
    finally:
        driver.quit()


def press(driver: WebDriver, keys: str) -> None:
    """Type `keys` into whatever has the focus (the page body, unless a box was focused)."""
    ActionChains(driver).send_keys(keys).perform()


def wait(driver: WebDriver) -> WebDriverWait[WebDriver]:
    """A wait that looks again when the page it looked at was replaced meanwhile."""
    return WebDriverWait(driver, WAIT_S, ignored_exceptions=(StaleElementReferenceException,))


def wait_for_url(driver: WebDriver, ending: str) -> None:
    """Wait until the page's URL ends with `ending` and the page has loaded."""
    wait(driver).until(
        lambda d: (
            d.current_url.endswith(ending)
            and d.execute_script("return document.readyState") == "complete"
        )
    )


def wait_for_tags(driver: WebDriver, expected: set[str]) -> None:
    """Wait until the example page's tag list shows exactly `expected`."""

    def shown(d: WebDriver) -> bool:
        found = {e.text for e in d.find_elements(By.CSS_SELECTOR, "#tags .tag")}
        return found == expected and d.execute_script("return document.readyState") == "complete"

    wait(driver).until(shown)


def tally_counts(driver: WebDriver, url: str) -> dict[str, int]:
    """category -> errors, read off the tally page's table."""
    driver.get(f"{url}/tally")
    rows = driver.find_elements(By.CSS_SELECTOR, "#tally tbody tr")
    counts = {}
    for row in rows:
        category = row.get_attribute("data-category")
        counts[str(category)] = int(row.find_element(By.CSS_SELECTOR, ".count").text)
    return counts


def pictures_loaded(driver: WebDriver) -> bool:
    """True when every picture on the page has been decoded by the browser."""
    script = "return Array.from(document.images).every(i => i.complete && i.naturalWidth > 0);"
    return bool(driver.execute_script(script))


def test_tag_with_keyboard_see_tally_restart_tags_kept(
    builtin_dataset: Path, tmp_path: Path, browser: WebDriver
) -> None:
    web = build_web_project(builtin_dataset, tmp_path / "work")
    first, second = web.eyeball_errors[:2]
    log = tmp_path / "server.log"
    with serving(web, log) as url:
        browser.get(f"{url}/gallery")
        cards = browser.find_elements(By.CSS_SELECTOR, "li.card")
        assert [int(str(c.get_attribute("data-id"))) for c in cards] == web.eyeball_errors
        wait(browser).until(pictures_loaded)
        assert SECRET not in browser.page_source

        press(browser, "j")  # gallery -> the first error
        wait_for_url(browser, f"/example/{first}")
        press(browser, "j")
        wait_for_url(browser, f"/example/{second}")
        press(browser, Keys.ARROW_LEFT)
        wait_for_url(browser, f"/example/{first}")
        wait(browser).until(pictures_loaded)
        assert len(browser.find_elements(By.CSS_SELECTOR, ".pictures img")) == 5

        press(browser, "t")  # the tag box, a new category, Enter submits the form
        assert browser.switch_to.active_element.get_attribute("id") == "tag-box"
        press(browser, "blurry" + Keys.ENTER)
        wait_for_tags(browser, {"blurry"})
        press(browser, "2")  # categories: 1 blurry, 2 mislabeled
        wait_for_tags(browser, {"blurry", "mislabeled"})
        press(browser, "1")  # toggles blurry off again
        wait_for_tags(browser, {"mislabeled"})
        press(browser, "1")
        wait_for_tags(browser, {"blurry", "mislabeled"})

        press(browser, "j")
        wait_for_url(browser, f"/example/{second}")
        browser.find_element(By.ID, "tag-box").send_keys("blurry")  # the form, by its button
        browser.find_element(By.CSS_SELECTOR, "#tag-form button").click()
        wait_for_tags(browser, {"blurry"})

        counts = tally_counts(browser, url)
        assert counts["blurry"] == 2 and counts["mislabeled"] == 1
        assert browser.find_elements(By.CSS_SELECTOR, "svg.chart rect.share")

        blackbox = web.ids(eyeball=False, error=True)[0]
        browser.get(f"{url}/example/{blackbox}")
        assert "Not Found" in browser.page_source and "truth" not in browser.page_source
        connection = http.client.HTTPConnection("127.0.0.1", int(url.rsplit(":", 1)[1]))
        connection.request("GET", "/image/../../etc/passwd")  # sent as is, not normalised
        response = connection.getresponse()
        assert response.status == 404 and b"root:" not in response.read()
        connection.close()

    with serving(web, log) as url:  # a new server process: the tags come from the store
        assert tally_counts(browser, url) == counts
        browser.get(f"{url}/example/{first}")
        wait_for_tags(browser, {"blurry", "mislabeled"})
        browser.get(f"{url}/history")
        assert "v1" in browser.find_element(By.ID, "history").text
    assert "Traceback" not in log.read_text(), log.read_text()
    assert os.path.getsize(log) > 0  # the server said where it listens

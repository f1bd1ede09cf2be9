"""`medgen errors serve` end to end in a real headless Chromium (Debian's, driven by Selenium).

Starts the real server in a subprocess, tags errors with the keyboard and the form, sees the
tally change, restarts the server and sees the tags still there; filters the gallery, tags many
errors at once and tags one after another with "tag, then next". Skipped only where Debian's
chromium / chromium-driver are not installed (CI installs them: .ci/run).
"""

from __future__ import annotations

import http.client
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import Select, WebDriverWait
from web_support import (
    CHROMEDRIVER,
    CHROMIUM,
    SECRET,
    WAIT_S,
    WebProject,
    build_web_project,
    chromium_options,
    serving,
)

from medgen.errors.store import ErrorStore

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not (CHROMIUM.exists() and CHROMEDRIVER.exists()),
        reason="needs Debian's chromium and chromium-driver (apt-get install chromium "
        "chromium-driver; .ci/run does)",
    ),
]


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[WebDriver]:
    """Headless Debian Chromium with a fresh profile, no network but localhost."""
    options = chromium_options(tmp_path / "chromium-profile")
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


def shortcut_keys(driver: WebDriver) -> dict[str, str]:
    """category -> its key 1-9, read off the page's buttons."""
    buttons = driver.find_elements(By.CSS_SELECTOR, "button[data-shortcut]")
    found = {}
    for button in buttons:
        key = str(button.get_attribute("data-shortcut"))
        found[button.text.removeprefix(f"[{key}] ").removesuffix(" ✓")] = key
    return found


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
        keys = shortcut_keys(browser)  # the metadata's starters, blurry and mislabeled, by name
        assert {"blurry", "mislabeled", "noisy", "bias-field"} <= set(keys)
        press(browser, keys["mislabeled"])
        wait_for_tags(browser, {"blurry", "mislabeled"})
        press(browser, keys["blurry"])  # toggles blurry off again
        wait_for_tags(browser, {"mislabeled"})
        press(browser, keys["blurry"])
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
        # Chrome shows a text reply in a <pre> it fills after making it: wait for the words
        wait(browser).until(lambda d: "Not Found" in d.page_source)
        assert "truth" not in browser.page_source
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


def tags_in_store(web: WebProject) -> dict[int, set[str]]:
    """example id -> its categories, read from the store."""
    found: dict[int, set[str]] = {}
    with ErrorStore(web.project) as store:
        for tag in store.tags(web.split.content_hash):
            found.setdefault(tag.example_id, set()).add(tag.category)
    return found


def card_ids(driver: WebDriver) -> list[int]:
    """The ids of the gallery's cards, in page order."""
    cards = driver.find_elements(By.CSS_SELECTOR, "li.card")
    return [int(str(c.get_attribute("data-id"))) for c in cards]


def shift_press(driver: WebDriver, key: str) -> None:
    """Shift+`key`, as a person holds shift and types it."""
    ActionChains(driver).key_down(Keys.SHIFT).send_keys(key).key_up(Keys.SHIFT).perform()


def test_filter_tag_many_and_tag_then_next(
    builtin_dataset: Path, tmp_path: Path, browser: WebDriver
) -> None:
    web = build_web_project(builtin_dataset, tmp_path / "work")
    table = web.table.set_index("id")
    false_alarms = [i for i in web.eyeball_errors if table.loc[i, "truth"] == "none"]
    assert 3 <= len(false_alarms) < len(web.eyeball_errors)
    with serving(web, tmp_path / "server.log") as url:
        browser.get(f"{url}/gallery")  # filter with the form, as a person does: pick, shown
        Select(browser.find_element(By.NAME, "truth")).select_by_value("none")
        wait(browser).until(lambda d: "truth=none" in d.current_url)
        wait_for_url(browser, "/gallery?truth=none")
        assert card_ids(browser) == false_alarms
        wait(browser).until(pictures_loaded)  # the thumbnails, outlines drawn in

        press(browser, "a")  # tick every error shown, then a new tag for all of them at once
        assert browser.find_element(By.ID, "n-ticked").text == str(len(false_alarms))
        press(browser, "t")
        press(browser, "no-tumour-seen" + Keys.ENTER)
        wait(browser).until(lambda d: len(d.find_elements(By.CSS_SELECTOR, ".card .tag")) > 0)
        assert "truth=none" in browser.current_url  # back to the same filtered gallery
        assert all(tags_in_store(web).get(i) == {"no-tumour-seen"} for i in false_alarms)

        browser.get(f"{url}/gallery?tag=-")  # the untagged ones; a run of them by shift-click
        untagged = card_ids(browser)
        assert untagged == [i for i in web.eyeball_errors if i not in false_alarms]
        ticks = browser.find_elements(By.CSS_SELECTOR, "input.tick")
        ticks[0].click()
        ActionChains(browser).key_down(Keys.SHIFT).click(ticks[2]).key_up(Keys.SHIFT).perform()
        assert browser.find_element(By.ID, "n-ticked").text == "3"
        keys = shortcut_keys(browser)
        press(browser, keys["noisy"])
        wait(browser).until(lambda d: card_ids(d) == untagged[3:])  # tagged: filtered out
        assert all(tags_in_store(web).get(i) == {"noisy"} for i in untagged[:3])

        left = untagged[3:]
        press(browser, "j")  # the first untagged error, then tag-and-next through the rest
        wait_for_url(browser, f"/example/{left[0]}?tag=-")
        wait(browser).until(pictures_loaded)
        assert browser.find_elements(By.CSS_SELECTOR, "svg.colour-bar stop")
        shift_press(browser, keys["bias-field"])
        wait_for_url(browser, f"/example/{left[1]}?tag=-")
        press(browser, "t")  # a new tag from the box, and on with shift+Enter
        press(browser, "dark")
        shift_press(browser, Keys.ENTER)
        wait_for_url(browser, f"/example/{left[2]}?tag=-")
        stored = tags_in_store(web)
        assert stored[left[0]] == {"bias-field"} and stored[left[1]] == {"dark"}
        assert left[2] not in stored

        level = browser.find_element(By.ID, "level")  # window/level redraws the input live
        browser.execute_script(
            "arguments[0].value = 0.3; arguments[0].dispatchEvent(new Event('input'));", level
        )
        src = browser.find_element(By.CSS_SELECTOR, "img[data-windowed]").get_attribute("src")
        assert "level=0.3" in str(src)
        wait(browser).until(pictures_loaded)

        browser.get(f"{url}/tally")  # each row links to its errors
        browser.find_element(By.LINK_TEXT, "noisy").click()
        wait(browser).until(lambda d: "category=noisy" in d.current_url)
        assert card_ids(browser) == untagged[:3]

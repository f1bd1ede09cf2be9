"""A headless Chromium for tests (Debian's chromium + chromium-driver, driven by Selenium), and
what a reader would see wrong on a rendered report: images that do not load, links to nothing,
cells showing NaN / inf / row numbers, tables wider than their chapter."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import unquote, urlparse

from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.remote.webdriver import WebDriver

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
HAVE_CHROMIUM = CHROMIUM.exists() and CHROMEDRIVER.exists()
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage")
SHOWN_BADLY = re.compile(r"(?i:\b(nan|inf)\b)|\bNone\b|\de\+\d")  # e.g. 5e+03
NUMBER = r"([-+]?\d+(?:\.\d+)?)"  # signed: the tasks chapter prints gains as "+0.132"
# The ways the report prints an estimate beside its interval; each gives (value, low, high).
WITH_INTERVAL = (
    re.compile(rf"{NUMBER}\s*\[{NUMBER},\s*{NUMBER}\]"),  # "0.25 [0.1, 0.4]", cells apart too
    # the tasks chapter's targets: "+0.132 (95% interval -0.010 to +0.255, 40 slices)"
    re.compile(rf"{NUMBER}\s*\(\d+% interval {NUMBER} to {NUMBER}\b"),
    # the errors chapter's shares, "67% (58%–76%)" and "45% (20–70%)"; the uses chapter's Dice
    re.compile(rf"{NUMBER}%?\s*\({NUMBER}%?\s*–\s*{NUMBER}%?\)"),
)


def outside_interval(text: str) -> list[str]:
    """Every estimate in `text` printed beside its interval (WITH_INTERVAL) but not inside it."""
    return [
        m.group(0)
        for pattern in WITH_INTERVAL
        for m in pattern.finditer(text)
        if not float(m.group(2)) <= float(m.group(1)) <= float(m.group(3))
    ]


@contextmanager
def chromium(profile: Path, width: int = 1280, height: int = 1000) -> Iterator[WebDriver]:
    """Headless Chromium with a fresh profile folder, closed on exit."""
    options = Options()
    options.binary_location = str(CHROMIUM)
    for flag in (*FLAGS, f"--window-size={width},{height}", f"--user-data-dir={profile}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def _missing_target(href: str) -> bool:
    """True for a file:// link whose file does not exist (other schemes are not checked)."""
    url = urlparse(href)
    return url.scheme == "file" and not Path(unquote(url.path)).exists()


def load_every_image(driver: WebDriver) -> None:
    """Load the page's lazy images now, as a reader scrolling through would, and wait for them."""
    driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "Promise.all([...document.images].map(i => { i.loading = 'eager';"
        " return i.decode().catch(() => null); })).then(() => done(null));"
    )


def report_problems(driver: WebDriver, page: Path) -> list[str]:
    """Everything wrong a reader would see on `page` as Chromium lays it out, one line each."""
    driver.get(page.as_uri())
    load_every_image(driver)
    problems = [
        f"image does not load: {src}"
        for src in driver.execute_script(
            "return [...document.images].filter(i => !(i.complete && i.naturalWidth > 0))"
            ".map(i => i.getAttribute('src'))"
        )
    ]
    hrefs = driver.execute_script(
        "return [...document.querySelectorAll('a[href]')].map(a => a.href)"
        ".filter(h => !h.includes('#'))"
    )
    problems += [f"link to nothing: {h}" for h in hrefs if _missing_target(h)]
    cells = driver.execute_script(
        "return [...document.querySelectorAll('td, th')].map(c => c.innerText.trim())"
    )
    problems += [f"cell shows {c!r}" for c in cells if SHOWN_BADLY.search(c)]
    page_text = driver.execute_script("return document.body.innerText")
    problems += [f"estimate outside its interval: {x}" for x in outside_interval(page_text)]
    tables = driver.execute_script(
        "return [...document.querySelectorAll('table')].map(t => ({"
        "right: t.getBoundingClientRect().right,"
        "edge: t.closest('section, body').getBoundingClientRect().right,"
        "scrolls: t.scrollWidth > t.clientWidth + 1,"
        "rows: [...t.querySelectorAll('tbody tr')].slice(0, 2)"
        ".map(r => r.cells[0] ? r.cells[0].innerText.trim() : '')}))"
    )
    for i, box in enumerate(tables):
        if box["right"] > box["edge"] + 0.5 or box["scrolls"]:
            problems.append(f"table {i + 1} is wider than its chapter")
        if box["rows"] == ["0", "1"]:
            problems.append(f"table {i + 1} shows row numbers")
    return problems

"""How fast can a person tag 100 eyeball errors in the eyeballing app (`medgen errors serve`)?

A scripted Chromium session (Selenium) tags 100 eyeball errors three ways, each on a fresh copy
of the project, and counts what a person would do: keystrokes (a shift chord counts
as two, as in the Keystroke-Level Model), clicks, page loads (HTML documents the server sent)
and form posts, and the machine's wall time. The flows:

- `toggle, then next` (the peer: what the app offered before): on each error's page, a digit
  toggles a category (a form post, the same page again), then j loads the next error;
- `tag, then next`: shift+digit tags and loads the next error in one post;
- `gallery, tick many`: the gallery filtered by a tally category (error kind) with the filter
  form's list (two clicks), every error shown ticked with `a` (or a run by click and
  shift-click), one digit tags all of them.

The human time is an estimate, not a measurement: Keystroke-Level Model operators (Card, Moran
and Newell 1980: K = 0.28 s a keystroke, P + B = 1.1 + 0.1 s a click, M = 1.35 s to look at an
error and decide, once per tag) plus the page-load waits this run measured (from the key or
click to the new page with every picture decoded). The server runs in this process behind a
counting middleware, so the page loads are counted where they are served.

    python benchmarks/app_tagging.py [--tags 100] [--out benchmarks/results/app_tagging.txt]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import uvicorn
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import Select, WebDriverWait
from starlette.types import ASGIApp, Message, Receive, Scope, Send

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "errors"))
from web_support import (
    CHROMEDRIVER,
    WebProject,
    build_web_project,
    chromium_options,
    free_port,
)

from medgen.data.synth import DataConfig, make_dataset
from medgen.errors.store import ErrorStore
from medgen.errors.web import allowed_hosts_for, create_app

K_S, P_S, M_S = 0.28, 1.2, 1.35  # KLM: a keystroke, a click (point 1.1 + press 0.1), a decision
WAIT_S = 30
TARGET_MIN, TARGET_LOADS = 10, 2  # an experienced user: 100 tags in under 10 min, <= 2 loads each
DATA = DataConfig(n_train=20, n_dev=1000, n_test=20, seed=3)  # ~120 eyeball errors (see main)
CATEGORY = "noisy"  # the tag every flow gives (a starter category: it has a key from the start)


class Counting:
    """ASGI middleware counting HTML documents sent (page loads) and form posts."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.documents = 0
        self.posts = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            self.posts += 1

        async def counted(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] == 200:
                headers = dict(message.get("headers", []))
                if headers.get(b"content-type", b"").startswith(b"text/html"):
                    self.documents += 1
            await send(message)

        await self.app(scope, receive, counted)


@dataclass
class Session:
    """A browser on one flow's server, and what the person did in it."""

    driver: WebDriver
    url: str
    counter: Counting
    keystrokes: int = 0
    clicks: int = 0
    load_wait_s: float = 0.0

    def keys(self, text: str, *, shift: bool = False) -> None:
        """Type `text` (shift held: one more keystroke)."""
        chain = ActionChains(self.driver)
        if shift:
            chain.key_down(Keys.SHIFT)
        chain.send_keys(text)
        if shift:
            chain.key_up(Keys.SHIFT)
        chain.perform()
        self.keystrokes += len(text) + shift

    def navigating(self, action: Callable[[], None]) -> None:
        """Do `action`, then wait for the new page with its pictures (the wait is counted)."""
        self.driver.execute_script("window.__old = true;")
        start = time.perf_counter()
        action()
        WebDriverWait(self.driver, WAIT_S).until(
            lambda d: d.execute_script(
                "return !window.__old && document.readyState === 'complete' && "
                "Array.from(document.images).every(i => i.complete && i.naturalWidth > 0);"
            )
        )
        self.load_wait_s += time.perf_counter() - start

    def key_of(self, category: str) -> str:
        """The digit of `category`'s shortcut on the page shown."""
        button = self.driver.find_element(
            By.XPATH, f"//button[@data-shortcut][contains(., '] {category}')]"
        )
        return str(button.get_attribute("data-shortcut"))


def toggle_then_next(session: Session, ids: list[int]) -> None:
    """The peer: a digit (post, same page again), then j (the next page), per error."""
    session.driver.get(f"{session.url}/example/{ids[0]}")
    key = session.key_of(CATEGORY)
    for _ in ids:
        session.navigating(lambda: session.keys(key))
        session.navigating(lambda: session.keys("j"))


def tag_then_next(session: Session, ids: list[int]) -> None:
    """shift+digit per error: tag, and the next error's page comes back."""
    session.driver.get(f"{session.url}/example/{ids[0]}")
    key = session.key_of(CATEGORY)
    for _ in ids:
        session.navigating(lambda: session.keys(key, shift=True))


def gallery_tick_many(session: Session, ids: list[int]) -> None:
    """Filter by each error kind with the form, tick the errors shown, one digit for them all."""
    driver = session.driver
    driver.get(f"{session.url}/gallery")
    left = len(ids)
    for kind in ("missed", "false_alarm", "wrong_type"):
        if left == 0:
            break
        choose = Select(driver.find_element(By.NAME, "category"))
        value = f"error_kind={kind}"
        session.navigating(lambda: choose.select_by_value(value))  # noqa: B023  (called at once)
        session.clicks += 2  # open the list, pick the kind: the gallery reloads filtered
        ticks = driver.find_elements(By.CSS_SELECTOR, "input.tick")
        if not ticks:
            continue
        if len(ticks) <= left:
            session.keys("a")
        else:  # the last few: a run, by click and shift-click
            ticks[0].click()
            end = ticks[left - 1]
            ActionChains(driver).key_down(Keys.SHIFT).click(end).key_up(Keys.SHIFT).perform()
            session.clicks += 2
            session.keystrokes += 1
        taken = min(len(ticks), left)
        key = session.key_of(CATEGORY)
        session.navigating(lambda: session.keys(key))  # noqa: B023  (called at once)
        left -= taken


FLOWS: dict[str, Callable[[Session, list[int]], None]] = {
    "toggle, then next (before)": toggle_then_next,
    "tag, then next (shift+digit)": tag_then_next,
    "gallery, tick many": gallery_tick_many,
}


def serve_in_thread(app: ASGIApp, port: int) -> tuple[uvicorn.Server, threading.Thread]:
    """Uvicorn serving `app` on 127.0.0.1:`port` in a thread, started."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    return server, thread


def run_flow(name: str, web: WebProject, root: Path, n_tags: int) -> dict[str, float]:
    """One flow on a fresh copy of the project: its counts and times."""
    project = root / f"project-{list(FLOWS).index(name)}"
    shutil.copytree(web.project, project)
    port = free_port()
    app = create_app(
        web.predictions, project, author="bench", allowed_hosts=allowed_hosts_for("127.0.0.1", port)
    )
    counter = Counting(app)
    server, thread = serve_in_thread(counter, port)
    options = chromium_options(root / f"profile-{port}")
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    try:
        session = Session(driver, f"http://127.0.0.1:{port}", counter)
        ids = sorted(web.eyeball_errors)[:n_tags]
        start = time.perf_counter()
        start_docs, start_posts = counter.documents, counter.posts
        FLOWS[name](session, ids)
        wall = time.perf_counter() - start
    finally:
        driver.quit()
        server.should_exit = True
        thread.join()
    with ErrorStore(project) as store:
        tags = [t for t in store.tags(web.split.content_hash) if t.category == CATEGORY]
    if len(tags) != n_tags:
        raise SystemExit(f"{name}: {len(tags)} tags made, not {n_tags}")
    loads = counter.documents - start_docs - 1  # less the flow's first page, opened by URL
    human = n_tags * M_S + session.keystrokes * K_S + session.clicks * P_S + session.load_wait_s
    return {
        "tags": n_tags,
        "keystrokes": session.keystrokes,
        "clicks": session.clicks,
        "page loads": loads,
        "posts": counter.posts - start_posts,
        "loads/tag": loads / n_tags,
        "keys/tag": session.keystrokes / n_tags,
        "load wait s": session.load_wait_s,
        "wall s": wall,
        "est. human min": human / 60,
    }


def table(rows: dict[str, dict[str, float]]) -> str:
    """The results as an aligned text table."""
    columns = list(next(iter(rows.values())))
    lines = [f"{'flow':30}" + "".join(f"{c:>15}" for c in columns)]
    for name, row in rows.items():
        cells = [f"{v:>15.2f}" if isinstance(v, float) else f"{v:>15}" for v in row.values()]
        lines.append(f"{name:30}" + "".join(cells))
    return "\n".join(lines)


def verdicts(rows: dict[str, dict[str, float]]) -> list[str]:
    """Each flow against the targets: 100 tags in under 10 minutes, at most 2 loads a tag."""
    return [
        f"# {name}: {row['est. human min']:.1f} min (estimated) "
        f"{'<' if row['est. human min'] < TARGET_MIN else '>='} {TARGET_MIN} min; "
        f"{row['loads/tag']:.2f} page loads a tag "
        f"{'<=' if row['loads/tag'] <= TARGET_LOADS else '>'} {TARGET_LOADS}"
        for name, row in rows.items()
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tags", type=int, default=100, help="eyeball errors to tag per flow")
    parser.add_argument("--out", type=Path, default=None, help="also write the table here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        make_dataset(root / "data", DATA, workers=1)
        # 1000 dev slices, 25% wrong, 120 errors wanted: an eyeball set of 480 slices
        web = build_web_project(root / "data", root / "work", error_rate=0.25, target_errors=120)
        n_errors = len(web.eyeball_errors)
        if n_errors < args.tags:
            raise SystemExit(f"only {n_errors} eyeball errors, fewer than --tags {args.tags}")
        rows = {name: run_flow(name, web, root, args.tags) for name in FLOWS}
    text = "\n".join(
        [
            "# command: python benchmarks/app_tagging.py --out benchmarks/results/app_tagging.txt",
            f"# {args.tags} of {n_errors} eyeball errors tagged '{CATEGORY}' per flow, headless "
            f"Chromium and the server on one machine ({os.cpu_count()} CPUs), in one run",
            "# the 'before' flow is the old app's fastest (a digit posts and reloads the page, j "
            "loads the next), run on today's app",
            "# page loads: HTML documents served (less the flow's first page); posts: form posts",
            f"# est. human min: an estimate, KLM: {M_S} s a tag (look, decide) + {K_S} s a "
            f"keystroke + {P_S} s a click + the measured load wait",
            table(rows),
            *verdicts(rows),
        ]
    )
    print(text)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()

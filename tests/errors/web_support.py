"""A small eyeballing project for the web app's tests and benchmark: predictions with
intermediates, a split; the real server in a subprocess and headless Chromium to drive it."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd
from selenium.webdriver.chrome.options import Options
from starlette.testclient import TestClient

from medgen.data.store import open_dataset
from medgen.detect.predict import META
from medgen.detect.predictions import read_predictions, write_predictions
from medgen.errors.split import split_project
from medgen.errors.store import ErrorStore, StoredSplit
from medgen.errors.watch import evaluate_project

# Stands for what a DICOM import's `source` column may hold (a patient's name in a file name):
# no page may ever show it.
SECRET = "DOE^JANE^PHI-8d1f"
TOKEN_INPUT = re.compile(r'<input type="hidden" name="csrf_token" value="([^"]+)">')

HOST = ("127.0.0.1", 8765)  # where the test clients say they reach the app
BASE = "http://127.0.0.1:8765"


class WebProject(NamedTuple):
    """A predictions folder and a project folder holding its split."""

    predictions: Path
    project: Path
    table: pd.DataFrame
    split: StoredSplit

    @property
    def eyeball_errors(self) -> list[int]:
        """Ids of the eyeball-set errors, sorted."""
        return self.ids(eyeball=True, error=True)

    def ids(self, *, eyeball: bool, error: bool) -> list[int]:
        """Sorted ids in the eyeball (or blackbox) set that are (or are not) errors."""
        part = self.split.eyeball if eyeball else self.split.blackbox
        rows = self.table[self.table["id"].isin(part)]
        wrong = rows["truth"] != rows["prediction"]
        return sorted(int(i) for i in rows["id"][wrong if error else ~wrong])


def build_web_project(
    data: Path, root: Path, error_rate: float = 0.2, seed: int = 0, target_errors: int = 20
) -> WebProject:
    """Made-up predictions on the dev split of `data`, intermediates saved; split; evaluated."""
    dataset = open_dataset(data)
    dev = dataset.split("dev")
    ids = dev["id"].to_numpy(dtype=np.int64)
    rng = np.random.default_rng(seed)
    truth = dev["tumour_type"].astype(str).to_numpy()
    prediction = truth.copy()
    wrong = rng.choice(len(ids), size=round(len(ids) * error_rate), replace=False)
    prediction[wrong] = np.where(truth[wrong] == "none", "malignant", "none")
    table = pd.DataFrame({"id": ids, "truth": truth, "prediction": prediction})
    for cls in ("none", "benign", "malignant"):
        table[f"score_{cls}"] = np.where(prediction == cls, 0.8, 0.1)
    for column in META:
        table[column] = dev[column].to_numpy()
    table["source"] = [f"{SECRET}/slice-{i}.dcm" for i in ids]
    table["patient_name"] = SECRET  # any column off the whitelist, as an import might add
    folder = root / "pred"
    intermediate = folder / "intermediate"
    intermediate.mkdir(parents=True)
    images = dataset.array("images")[ids]
    mask = dataset.array("tumour_mask")[ids]
    np.save(intermediate / "preprocessed.npy", (images * 4 - 1).astype(np.float16))
    np.save(intermediate / "probability.npy", (mask * 200).astype(np.uint8))
    np.save(intermediate / "region.npy", mask.astype(np.uint8))
    content_hash = str(dataset.manifest["content_hash"])
    write_predictions(folder, table, "v1", "dev", data, content_hash, image_size=dataset.size)
    project = root / "project"
    predictions = read_predictions(folder)
    with ErrorStore(project) as store:
        split = split_project(store, predictions, target_errors=target_errors).split
        evaluate_project(store, predictions)
    return WebProject(folder, project, predictions.table, split)


def form_token(html: str) -> str:
    """The form token a page's forms carry (the same in each of its forms)."""
    tokens = set(TOKEN_INPUT.findall(html))
    assert len(tokens) == 1, tokens
    return tokens.pop()


# ---- the real server and a real browser -------------------------------------------------------

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


def free_port() -> int:
    """A TCP port nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def serving(web: WebProject, log: Path, *extra: str) -> Iterator[str]:
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
        *extra,
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
    """Poll the gallery until it answers 200; RuntimeError with the server's log if it died."""
    deadline = time.monotonic() + WAIT_S * 2
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the server exited ({server.returncode}):\n{log.read_text()}")
        try:
            with urllib.request.urlopen(f"{url}/gallery", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.2)
    raise RuntimeError(f"the server did not answer within {2 * WAIT_S} s:\n{log.read_text()}")


def chromium_options(profile: Path) -> Options:
    """Options for headless Debian Chromium with a fresh profile, no network but localhost."""
    options = Options()
    options.binary_location = str(CHROMIUM)
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    return options


def session_token(client: TestClient, web: WebProject) -> str:
    """The form token of `client`'s session, read off an example page as a browser does."""
    return form_token(client.get(f"/example/{web.eyeball_errors[0]}").text)


def listed_ids(html: str) -> list[int]:
    """The example ids of the gallery's cards."""
    return [int(i) for i in re.findall(r'class="card" data-id="(\d+)"', html)]


def tally_count(client: TestClient, category: str) -> int | None:
    """The errors count of `category` on the tally page (None if it has no row)."""
    html = client.get("/tally").text
    found = re.search(rf'data-category="{re.escape(category)}">.*?class="count">(\d+)<', html)
    return None if found is None else int(found.group(1))

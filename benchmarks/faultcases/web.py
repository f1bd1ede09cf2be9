"""The eyeballing web app (`medgen errors serve`): hostile requests through the app object and
starlette's test client, each refused with its status code, a short plain answer (never a
traceback) and no tag written; and `errors serve` itself on bad input and a taken port."""

from __future__ import annotations

import functools
import json
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

from faultcases.core import Attempt, Case, cli, copy_tree, probe
from faultcases.inputs import truncate

BASE = "http://127.0.0.1:8765"
TOKEN = 'name="csrf_token" value="'
HELD: list[socket.socket] = []  # ports held busy while their case runs

Request = Callable[[Any, int], Any]  # (client, an eyeball error's id) -> response


def _token(client: Any, example_id: int) -> str:
    page = client.get(f"/example/{example_id}").text
    return page.split(TOKEN, 1)[1].split('"', 1)[0]


def _post(client: Any, example_id: int, form: dict[str, str], **headers: str) -> Any:
    return client.post(f"/example/{example_id}/tag", data=form, headers=headers)


REQUESTS: dict[str, tuple[Request, int]] = {  # what is sent, and the status that refuses it
    "post-without-token": (lambda c, i: _post(c, i, {"category": "blurry"}), 403),
    "post-with-wrong-token": (
        lambda c, i: _post(c, i, {"category": "blurry", "csrf_token": "0" * 64}),
        403,
    ),
    "post-with-empty-token": (lambda c, i: _post(c, i, {"category": "x", "csrf_token": ""}), 403),
    "post-cross-origin": (
        lambda c, i: _post(
            c, i, {"category": "blurry", "csrf_token": _token(c, i)}, origin="http://evil.example"
        ),
        403,
    ),
    "post-cross-site-fetch": (
        lambda c, i: _post(
            c,
            i,
            {"category": "blurry", "csrf_token": _token(c, i)},
            **{"sec-fetch-site": "cross-site"},
        ),
        403,
    ),
    "post-bad-category": (
        lambda c, i: _post(c, i, {"category": "../../etc", "csrf_token": _token(c, i)}),
        400,
    ),
    "post-unknown-action": (
        lambda c, i: _post(
            c, i, {"category": "blurry", "action": "drop", "csrf_token": _token(c, i)}
        ),
        400,
    ),
    "host-wrong-port": (lambda c, i: c.get("/gallery", headers={"host": "127.0.0.1:9999"}), 400),
    "host-foreign-name": (lambda c, i: c.get("/gallery", headers={"host": "evil.example"}), 400),
    "host-port-overflow": (
        lambda c, i: c.get("/gallery", headers={"host": "127.0.0.1:99999999"}),
        400,
    ),
    "host-with-userinfo": (
        lambda c, i: c.get("/gallery", headers={"host": "evil.example@127.0.0.1:8765"}),
        400,
    ),
    "post-on-wrong-port": (
        lambda c, i: _post(
            c, i, {"category": "blurry", "csrf_token": _token(c, i)}, host="127.0.0.1:1"
        ),
        400,
    ),
    "path-traversal": (lambda c, i: c.get("/image/..%2f..%2fetc%2fpasswd/source.png"), 404),
    "blackbox-example": (lambda c, i: c.get(f"/example/{10**9}"), 404),
    "unknown-picture-kind": (lambda c, i: c.get(f"/image/{i}/weights.png"), 404),
    "damaged-intermediate": (lambda c, i: c.get(f"/image/{i}/preprocessed.png"), 404),
}


SAYS = {  # what a refusal page must say, where it says more than its status
    "post-bad-category": "is not a tag category name",
    "post-unknown-action": "unknown action",
}


def _tags(predictions: Path, project: Path) -> list[tuple[int, str]]:
    """Every tag on the predictions' dataset, sorted."""
    from medgen.errors.store import ErrorStore

    content_hash = json.loads((predictions / "predictions.json").read_text())["content_hash"]
    with ErrorStore(project, create=False) as store:
        return sorted((t.example_id, t.category) for t in store.tags(content_hash))


def web_probe(predictions: str, project: str, example_id: int, name: str) -> str | None:
    """Send request `name` to a fresh app over `project`; None if it is refused cleanly."""
    from starlette.testclient import TestClient

    from medgen.errors.web import allowed_hosts_for, create_app

    request, expected = REQUESTS[name]
    before = _tags(Path(predictions), Path(project))
    hosts = allowed_hosts_for("127.0.0.1", 8765)
    app = create_app(predictions, project, author="faults", allowed_hosts=hosts)
    with TestClient(app, base_url=BASE, follow_redirects=False, raise_server_exceptions=False) as c:
        response = request(c, example_id)
    body = response.text
    if response.status_code != expected:
        return f"status {response.status_code}, expected {expected}: {body[:120]!r}"
    if "Traceback" in body:
        return f"status {expected} but a traceback in the body: {body[:120]!r}"
    if name in SAYS and SAYS[name] not in body:
        return f"status {expected} but the page does not say {SAYS[name]!r}"
    after = _tags(Path(predictions), Path(project))
    return None if after == before else f"the tags changed: {before} -> {after}"


def _web(name: str) -> Any:
    def setup(work: Path, fx: Any) -> Attempt:
        predictions = copy_tree(fx.errors / "predictions", work / "predictions")
        project = copy_tree(fx.errors / "project", work / "project")
        example_id = fx.eyeball_errors[0]
        if name == "damaged-intermediate":
            _intermediates(predictions, fx)
        run = functools.partial(web_probe, str(predictions), str(project), example_id, name)
        return probe(run, creates=("project",))

    return setup


def _intermediates(predictions: Path, fx: Any) -> None:
    """A preprocessed.npy the picture route reads, cut short."""
    import numpy as np

    n = len((predictions / "predictions.csv").read_text().splitlines()) - 1
    folder = predictions / "intermediate"
    folder.mkdir()
    np.save(folder / "preprocessed.npy", np.zeros((n, 64, 64), np.float16))
    truncate(folder / "preprocessed.npy", 0.3)


def serve_on_taken_port(work: Path, fx: Any) -> Attempt:
    held = socket.socket()
    held.bind(("127.0.0.1", 0))
    held.listen()
    HELD.append(held)
    port = str(held.getsockname()[1])
    pred, project = fx.errors / "predictions", copy_tree(fx.errors / "project", work / "project")
    argv = ("errors", "serve", "--predictions", pred, "--project", project, "--port", port)
    return cli(*argv, needles=(port, "in use"), creates=("project",), timeout=30)


def serve_without_split(work: Path, fx: Any) -> Attempt:
    (work / "project").mkdir()
    argv = ("errors", "serve", "--predictions", fx.errors / "predictions", "--project", "project")
    return cli(*argv, needles=("errors.sqlite",), timeout=30)


def serve_missing_predictions(work: Path, fx: Any) -> Attempt:
    project = fx.errors / "project"
    argv = ("errors", "serve", "--predictions", work / "gone", "--project", project)
    return cli(*argv, needles=(str(work / "gone"),), timeout=30)


def cases() -> list[Case]:
    """The app's guards, then the serve command."""
    found = [Case("web", name, _web(name)) for name in REQUESTS]
    return [
        *found,
        Case("web", "serve-on-a-taken-port", serve_on_taken_port),
        Case("web", "serve-without-a-split", serve_without_split),
        Case("web", "serve-missing-predictions", serve_missing_predictions),
    ]

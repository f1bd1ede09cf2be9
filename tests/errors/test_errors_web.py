"""The eyeballing web app over HTTP (the ASGI test client): what it shows and never shows."""

from __future__ import annotations

import io
import socket
from pathlib import Path

import anyio
import numpy as np
from PIL import Image
from starlette.applications import Starlette
from starlette.testclient import TestClient
from starlette.types import Message, Scope
from typer.testing import CliRunner
from web_support import (
    BASE,
    SECRET,
    WebProject,
    form_token,
    listed_ids,
    session_token,
    tally_count,
)

from cli_support import assert_one_line_error, run_cli
from medgen.cli.errors import errors_app
from medgen.detect.predictions import read_predictions
from medgen.errors.pictures import outline
from medgen.errors.split import split_project
from medgen.errors.store import ErrorStore
from medgen.errors.web import allowed_hosts_for, is_loopback
from medgen.errors.web.images import KINDS


def all_routes(example_id: int) -> list[tuple[str, str]]:
    """(method, path) of every route that takes an id (POST /tag takes it in its form)."""
    images = [("GET", f"/image/{example_id}/{kind}.png") for kind in KINDS]
    pages = [("GET", f"/example/{example_id}"), ("GET", f"/thumbnail/{example_id}.png")]
    return [*pages, ("POST", f"/example/{example_id}/tag"), ("POST", "/tag"), *images]


def test_gallery_lists_exactly_the_eyeball_errors(web: WebProject, client: TestClient) -> None:
    response = client.get("/gallery")
    assert response.status_code == 200
    assert listed_ids(response.text) == web.eyeball_errors
    assert 10 <= len(web.eyeball_errors) <= 40  # the fixture is what the tests think it is
    assert client.get("/").headers["location"] == "/gallery"


def test_example_page_shows_pictures_truth_prediction_metadata(
    web: WebProject, client: TestClient
) -> None:
    first, second = web.eyeball_errors[:2]
    html = client.get(f"/example/{first}").text
    row = web.table.set_index("id").loc[first]
    assert f'<span id="truth">{row["truth"]}</span>' in html
    assert f'<span id="prediction">{row["prediction"]}</span>' in html
    assert f'rel="next" href="/example/{second}"' in html and 'rel="prev"' not in html
    assert "<th>location</th>" in html and "<th>noise_sigma</th>" in html
    for kind in KINDS:
        assert f"/image/{first}/{kind}.png" in html
        picture = client.get(f"/image/{first}/{kind}.png")
        assert picture.status_code == 200 and picture.headers["content-type"] == "image/png"
        assert Image.open(io.BytesIO(picture.content)).size == (256, 256)  # 64 px x 4, nearest
    assert 'data-shortcut="1"' in html and 'id="tag-box"' in html


def test_blackbox_unknown_and_correct_ids_are_404_on_every_route(
    web: WebProject, client: TestClient
) -> None:
    blackbox = web.ids(eyeball=False, error=True)[0]
    correct = web.ids(eyeball=True, error=False)[0]
    unknown = int(web.table["id"].max()) + 1000
    token = session_token(client, web)
    for example_id in (blackbox, web.ids(eyeball=False, error=False)[0], correct, unknown):
        for method, path in all_routes(example_id):
            data = {"category": "blurry", "action": "add", "csrf_token": token, "id": example_id}
            data = data if method == "POST" else None
            response = client.request(method, path, data=data)
            assert response.status_code == 404, (method, path)
            assert response.text == "Not Found" and "image" not in response.headers["content-type"]
    not_ints = ("/example/abc", "/example/-1", "/example/1.5", "/example/1e3", "/image/x/input.png")
    for path in not_ints:
        assert client.get(path).status_code == 404, path
    assert client.get(f"/image/{web.eyeball_errors[0]}/source.png").status_code == 404
    with ErrorStore(web.project) as store:
        assert store.tags(web.split.content_hash) == []  # the blackbox POST tagged nothing


def raw_status(app: Starlette, path: str) -> tuple[int, bytes]:
    """Call the app with `path` exactly as given (no client normalising '..'): status, body."""
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    scope: Scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"127.0.0.1:8765")],
        "client": ("127.0.0.1", 5000),
        "server": ("127.0.0.1", 8765),
    }
    anyio.run(app, scope, receive, send)
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return int(sent[0]["status"]), body


TRAVERSALS = (
    "/image/../../etc/passwd",
    "/image/1/../../../../etc/passwd",
    "/image/..%2F..%2F..%2Fetc%2Fpasswd",
    "/image/%2e%2e/%2e%2e/etc/passwd",
    "/static/../../../../etc/passwd",
    "/static/..%2F..%2F..%2Fetc%2Fpasswd",
    "/static/%2e%2e%2f%2e%2e%2fapp.py",
    "/static/..",
    "/static/app.py",
    "/example/..%2F..%2Fetc%2Fpasswd",
    "//etc/passwd",
)


def test_path_traversal_is_refused(web: WebProject, client: TestClient) -> None:
    app = client.app
    assert isinstance(app, Starlette)
    eid = web.eyeball_errors[0]
    paths = [*TRAVERSALS, f"/image/{eid}/..%2F..%2F..%2Fetc%2Fpasswd.png", f"/image/{eid}/../x.png"]
    for path in paths:
        status, body = raw_status(app, path)
        assert status == 404 and b"root:" not in body and b"import" not in body, (path, status)
        response = client.get(path)  # httpx may first resolve "..": then it is another URL
        assert response.status_code == 404 or response.headers["location"] == "/gallery", path
        assert b"root:" not in response.content and b"import" not in response.content, path
    assert raw_status(app, "/static/app.js")[0] == 200  # the raw caller does reach the app


def test_tagging_changes_the_tally_and_is_validated(web: WebProject, client: TestClient) -> None:
    first, second = web.eyeball_errors[:2]
    token = session_token(client, web)
    assert tally_count(client, "blurry") is None and tally_count(client, "mislabeled") == 0
    for example_id in (first, second):
        posted = client.post(
            f"/example/{example_id}/tag", data={"category": "blurry", "csrf_token": token}
        )
        assert posted.status_code == 303 and posted.headers["location"] == f"/example/{example_id}"
    assert tally_count(client, "blurry") == 2
    client.post(
        f"/example/{first}/tag",
        data={"category": "mislabeled", "action": "add", "csrf_token": token},
    )
    assert tally_count(client, "mislabeled") == 1
    page = client.get(f"/example/{first}").text
    assert '<span class="tag">blurry</span>' in page and "by tester" in page
    removed = client.post(
        f"/example/{first}/tag",
        data={"category": "blurry", "action": "remove", "csrf_token": token},
    )
    assert removed.status_code == 303 and tally_count(client, "blurry") == 1

    for bad in ("Bad Name!", "location=brainstem", "", "x" * 41, "../etc"):
        refused = client.post(f"/example/{first}/tag", data={"category": bad, "csrf_token": token})
        assert refused.status_code == 400 and "is not a tag category name" in refused.text, bad
    odd = client.post(
        f"/example/{first}/tag",
        data={"category": "blurry", "action": "drop", "csrf_token": token},
    )
    assert odd.status_code == 400 and "unknown action" in odd.text
    with ErrorStore(web.project) as store:
        assert sorted((t.example_id, t.category) for t in store.tags(web.split.content_hash)) == [
            (first, "mislabeled"),
            (second, "blurry"),
        ]


def test_no_source_value_on_any_page(web: WebProject, client: TestClient) -> None:
    pages = ["/gallery", "/tally", "/history", *(f"/example/{i}" for i in web.eyeball_errors)]
    for path in pages:
        response = client.get(path)
        assert response.status_code == 200, path
        assert SECRET not in response.text and "slice-" not in response.text, path
        if path.startswith("/example/"):  # (the tally's "source" is a category's: tag/metadata)
            assert "<th>source</th>" not in response.text, path


def test_history_and_security_headers(client: TestClient) -> None:
    history = client.get("/history")
    assert "v1" in history.text and "No sign of overfitting" in history.text
    assert "<polyline" in history.text and "<circle" in history.text
    csp = history.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "default-src 'none'" in csp
    script = client.get("/static/app.js")
    assert script.status_code == 200 and "javascript" in script.headers["content-type"]
    assert 'data-shortcut="' in script.text and "ArrowRight" in script.text
    tally = client.get("/tally").text
    assert "<svg" in tally and "max improvement" in tally and "error rate if fixed" in tally


def test_foreign_hosts_and_cross_site_posts_are_refused(
    web: WebProject, client: TestClient
) -> None:
    eid = web.eyeball_errors[0]
    assert client.get("/gallery", headers={"host": "evil.example"}).status_code == 400
    form = {"category": "blurry", "csrf_token": session_token(client, web)}
    for headers in ({"origin": "http://evil.example"}, {"sec-fetch-site": "cross-site"}):
        cross = client.post(f"/example/{eid}/tag", data=form, headers=headers)  # a good token
        assert cross.status_code == 403 and tally_count(client, "blurry") is None, headers
    same = client.post(f"/example/{eid}/tag", data=form, headers={"origin": BASE})
    assert same.status_code == 303 and tally_count(client, "blurry") == 1


def test_the_host_check_includes_the_port(client: TestClient) -> None:
    for host in ("127.0.0.1:8766", "localhost:1", "127.0.0.1", "127.0.0.1:80"):
        assert client.get("/gallery", headers={"host": host}).status_code == 400, host
    for host in ("127.0.0.1:8765", "localhost:8765", "LOCALHOST:8765"):
        assert client.get("/gallery", headers={"host": host}).status_code == 200, host
    for host in ("evil.example@127.0.0.1:8765", "127.0.0.1:8765/x", "127.0.0.1:8765:8765", ""):
        assert client.get("/gallery", headers={"host": host}).status_code == 400, host


def test_posts_without_the_session_form_token_are_refused(
    web: WebProject, client: TestClient
) -> None:
    eid = web.eyeball_errors[0]
    path = f"/example/{eid}/tag"  # no Origin nor Sec-Fetch-Site header: as curl or a form would
    assert client.post(path, data={"category": "blurry"}).status_code == 403
    for wrong in ("", "0" * 64, "x", "é" * 64):
        refused = client.post(path, data={"category": "blurry", "csrf_token": wrong})
        assert refused.status_code == 403, wrong
    with TestClient(client.app, base_url=BASE) as other:  # another browser: its own session
        theirs = session_token(other, web)
    assert client.post(path, data={"category": "blurry", "csrf_token": theirs}).status_code == 403
    cookieless = TestClient(client.app, base_url=BASE)
    refused = cookieless.post(path, data={"category": "blurry", "csrf_token": theirs})
    assert refused.status_code == 403
    assert tally_count(client, "blurry") is None

    token = form_token(client.get(f"/example/{eid}").text)
    posted = client.post(path, data={"category": "blurry", "csrf_token": token})
    assert posted.status_code == 303 and tally_count(client, "blurry") == 1
    page = client.get(f"/example/{eid}").text  # a remove form, toggles, the tag box's form
    forms = page.count('<form method="post"')
    assert forms >= 4 and page.count('name="csrf_token"') == forms  # every form carries it
    assert form_token(page) == session_token(client, web) == token  # one token per session


def test_the_session_cookie_is_strict(web: WebProject, client: TestClient) -> None:
    cookie = client.get(f"/example/{web.eyeball_errors[0]}").headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "path=/" in cookie
    assert "set-cookie" not in client.get(f"/example/{web.eyeball_errors[1]}").headers


def test_every_state_changing_route_checks_the_token(web: WebProject, client: TestClient) -> None:
    app = client.app
    assert isinstance(app, Starlette)
    eid = web.eyeball_errors[0]
    unsafe = [r for r in app.routes if set(getattr(r, "methods", None) or ()) - {"GET", "HEAD"}]
    assert unsafe  # the tag form's route at least
    for route in unsafe:
        path = str(getattr(route, "path", "")).replace("{example_id:int}", str(eid))
        response = client.post(path, data={"category": "blurry", "action": "add"})
        assert response.status_code == 403, path


def test_a_refreshed_split_hides_the_old_eyeball_set(web: WebProject, client: TestClient) -> None:
    old = web.eyeball_errors
    with ErrorStore(web.project) as store:
        split_project(store, read_predictions(web.predictions), target_errors=20, refresh=True)
    listed = listed_ids(client.get("/gallery").text)
    assert listed and not set(listed) & set(old)  # the old eyeball set is retired, not shown
    assert client.get(f"/example/{old[0]}").status_code == 404
    assert client.get(f"/example/{listed[0]}").status_code == 200


def test_outline_is_the_boundary() -> None:
    mask = np.zeros((5, 5), dtype=bool)
    mask[1:4, 1:4] = True
    edge = outline(mask)
    assert edge.sum() == 8 and not edge[2, 2] and edge[1, 1]


def test_hosts() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("example.org")
    assert allowed_hosts_for("127.0.0.1", 8765) == ["127.0.0.1:8765", "localhost:8765"]
    assert allowed_hosts_for("127.0.0.2", 80) == ["127.0.0.2:80", "localhost:80"]
    assert allowed_hosts_for("localhost", 1) == ["localhost:1", "127.0.0.1:1"]
    assert allowed_hosts_for("::1", 8765) == ["[::1]:8765", "localhost:8765"]
    assert allowed_hosts_for("0.0.0.0", 8765) == ["*"]


def test_serve_refuses_a_project_without_split(web: WebProject, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    ErrorStore(empty).close()
    result = run_cli("errors", "serve", "--predictions", web.predictions, "--project", empty)
    assert_one_line_error(result, "no eyeball/blackbox split yet")
    help_text = CliRunner().invoke(errors_app, ["serve", "--help"], terminal_width=200).output
    assert "Example: medgen errors serve" in help_text and "127.0.0.1" in help_text


def test_serve_on_a_taken_port_says_so_in_one_line(web: WebProject) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_cli(
            "errors",
            "serve",
            "--predictions",
            web.predictions,
            "--project",
            web.project,
            "--port",
            port,
        )
    assert_one_line_error(result, f"127.0.0.1:{port}", "in use")
    assert "serving" not in result.stdout and "http://" not in result.stdout

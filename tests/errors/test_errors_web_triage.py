"""The eyeballing app for speed, over HTTP: filters and sorts, tally links, tag-and-advance,
many tags at once, outlined thumbnails, the colour bar, window/level and missing sources."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from httpx import Response
from PIL import Image
from starlette.testclient import TestClient
from web_support import (
    BASE,
    HOST,
    WebProject,
    listed_ids,
    session_token,
)

from cli_support import assert_one_line_error, run_cli
from medgen.data.store import open_dataset
from medgen.errors.pictures import TRUTH_RGB, heat
from medgen.errors.store import ErrorStore
from medgen.errors.web import allowed_hosts_for, create_app
from medgen.errors.web.images import KINDS, Window, input_picture
from medgen.errors.web.views import STARTERS, colour_bar
from medgen.exceptions import InputError

# ---- triage: filters, sorts, tally links, tag-and-advance, multi-tag --------------------------


def tagged(web: WebProject) -> set[tuple[int, str]]:
    """(example id, category) of every tag in the store."""
    with ErrorStore(web.project) as store:
        return {(t.example_id, t.category) for t in store.tags(web.split.content_hash)}


def errors_where(web: WebProject, keep: pd.Series) -> list[int]:
    """Sorted eyeball-error ids whose rows of the predictions table pass `keep`."""
    rows = web.table[keep & web.table["id"].isin(web.eyeball_errors)]
    return sorted(int(i) for i in rows["id"])


def test_gallery_filters_and_sorts(web: WebProject, client: TestClient) -> None:
    table = web.table
    for query, keep in (
        ("truth=none", table["truth"] == "none"),
        ("prediction=none", table["prediction"] == "none"),
        ("location=frontal", table["location"] == "frontal"),
        (
            "category=error_kind%3Dmissed",
            (table["truth"] != "none") & (table["prediction"] == "none"),
        ),
        (
            "truth=benign&prediction=none",
            (table["truth"] == "benign") & (table["prediction"] == "none"),
        ),
        ("min_conf=0.5&max_conf=0.9", table["id"] >= 0),  # every predicted class scores 0.8
    ):
        listed = listed_ids(client.get(f"/gallery?{query}").text)
        assert listed == errors_where(web, keep), query
    for nothing in ("min_conf=0.9", "truth=zzz", "category=nowhere", "tag=nobody", "location=<b>"):
        assert listed_ids(client.get(f"/gallery?{nothing}").text) == [], nothing
    assert listed_ids(client.get("/gallery?sort=drop+table").text) == web.eyeball_errors

    rows = table[table["id"].isin(web.eyeball_errors)]
    by_size = rows.sort_values(["tumour_px", "id"], ascending=[False, True], kind="mergesort")
    html = client.get("/gallery?sort=-tumour_px&truth=benign").text
    wanted = [int(i) for i in by_size["id"] if i in errors_where(web, table["truth"] == "benign")]
    assert listed_ids(html) == wanted
    assert f'href="/example/{wanted[0]}?truth=benign&amp;sort=-tumour_px"' in html  # kept on


def test_each_tally_row_links_to_its_errors(client: TestClient) -> None:
    html = client.get("/tally").text
    rows = re.findall(r'<td><a href="(/gallery\?category=[^"]+)">[^<]+</a></td><td>\w+</td>'
                      r'<td class="count">(\d+)</td>', html)  # fmt: skip
    assert len(rows) >= 10
    for link, count in rows:
        assert len(listed_ids(client.get(link.replace("&amp;", "&")).text)) == int(count), link


def test_tag_then_next_walks_the_selection(web: WebProject, client: TestClient) -> None:
    untagged = web.eyeball_errors
    token = session_token(client, web)
    form = {"category": "dark", "advance": "1", "csrf_token": token}
    posted = client.post(f"/example/{untagged[0]}/tag?tag=-", data=form)
    assert posted.headers["location"] == f"/example/{untagged[1]}?tag=-"  # on, filter kept
    left = client.get(f"/example/{untagged[0]}?tag=-").text  # tagged: out of the selection
    assert "not among the" in left and f'rel="next" href="/example/{untagged[1]}?tag=-"' in left
    assert listed_ids(client.get("/gallery?tag=-").text) == untagged[1:]
    assert listed_ids(client.get("/gallery?tag=dark").text) == untagged[:1]
    assert listed_ids(client.get("/gallery?sort=tags").text)[:1] == untagged[:1]  # tagged first
    last = client.post(f"/example/{untagged[-1]}/tag?tag=-", data=form)
    assert last.headers["location"] == "/gallery?tag=-"  # the last one: back to what is left
    stay = client.post(f"/example/{untagged[2]}/tag", data={**form, "advance": "0"})
    assert stay.headers["location"] == f"/example/{untagged[2]}"
    assert tagged(web) == {(untagged[i], "dark") for i in (0, -1, 2)}
    page = client.get(f"/example/{untagged[3]}").text
    assert page.count('name="advance" value="1"') == page.count('class="inline toggle"') + 1


def test_many_errors_are_tagged_at_once_or_not_at_all(web: WebProject, client: TestClient) -> None:
    ids = web.eyeball_errors
    token = session_token(client, web)

    def post(**form: object) -> Response:
        return client.post("/tag?truth=none", data={"csrf_token": token, **form})

    done = post(id=[str(i) for i in ids[:3]], category="dark")
    assert done.status_code == 303 and done.headers["location"] == "/gallery?truth=none"
    assert tagged(web) == {(i, "dark") for i in ids[:3]}
    blackbox = web.ids(eyeball=False, error=True)[0]
    assert post(id=[str(ids[3]), str(blackbox)], category="dark").status_code == 404
    assert post(id=[str(ids[3]), "x"], category="dark").status_code == 404
    assert tagged(web) == {(i, "dark") for i in ids[:3]}  # nothing of the refused posts
    assert post(id=[str(ids[4])], preset="noisy", category="").status_code == 303  # a button
    assert post(id=[str(i) for i in ids[:2]], category="dark", action="remove").status_code == 303
    assert tagged(web) == {(ids[2], "dark"), (ids[4], "noisy")}
    refused = post(category="dark")
    assert refused.status_code == 400 and "no errors selected" in refused.text
    bad = post(id=[str(ids[5])], category="Bad Name")
    assert bad.status_code == 400 and "is not a tag category name" in bad.text
    html = client.get("/gallery").text
    assert html.count('form="bulk" class="tick"') == len(ids) and 'id="tick-all"' in html


def test_starting_categories_come_from_the_metadata(web: WebProject, client: TestClient) -> None:
    html = client.get(f"/example/{web.eyeball_errors[0]}").text
    offered = re.findall(r'name="category" value="([^"]+)">\s*<input type="hidden" name="action"'
                         r' value="add">', html)  # fmt: skip
    assert offered == sorted([*STARTERS.values(), "mislabeled"])  # the data has every column
    assert 'href="/gallery?category=error_kind%3D' in html  # its metadata categories link on


# ---- pictures: thumbnails, colour bar, window/level, missing sources ------------------------


def png_array(response: Response) -> np.ndarray:
    """The RGB pixels of a PNG response."""
    assert response.status_code == 200 and response.headers["content-type"] == "image/png"
    return np.asarray(Image.open(io.BytesIO(response.content)).convert("RGB"))


def test_thumbnails_outline_the_tumour(web: WebProject, client: TestClient) -> None:
    rows = web.table.set_index("id")
    for example_id in web.eyeball_errors:
        pixels = png_array(client.get(f"/thumbnail/{example_id}.png"))
        assert pixels.shape == (128, 128, 3)  # 64 px x 2
        magenta = (pixels == TRUTH_RGB).all(axis=2).any()
        assert magenta == (rows.loc[example_id, "truth"] != "none"), example_id
    assert 'src="/thumbnail/' in client.get("/gallery").text


def test_the_colour_bar_is_the_probability_ramp() -> None:
    bar = colour_bar()
    offsets = np.array([float(o) for o, _ in bar.stops]) / 100  # (4,)
    colours = np.array([[int(c[i : i + 2], 16) for i in (1, 3, 5)] for _, c in bar.stops])
    levels = np.arange(256)
    expected = np.stack([np.interp(levels / 255, offsets, colours[:, k]) for k in range(3)], -1)
    assert np.abs(heat(levels[None, :])[0] - expected).max() <= 1  # what the gradient draws


def test_window_level_redraws_the_input(web: WebProject, client: TestClient) -> None:
    eid = web.eyeball_errors[0]
    image = np.asarray(open_dataset(web_data(web)).array("images")[eid])
    narrow = png_array(client.get(f"/image/{eid}/input.png?window=0.2&level=0.3"))
    assert (narrow == input_picture(image, Window(0.2, 0.4))).all()
    full = png_array(client.get(f"/image/{eid}/input.png"))
    assert (full == input_picture(image, Window())).all() and (narrow != full).any()
    for ignored in ("window=0&level=0.5", "window=1e9&level=0.5", "window=nan&level=0.5"):
        assert (png_array(client.get(f"/image/{eid}/input.png?{ignored}")) == full).all()
    page = client.get(f"/example/{eid}?window=0.2&level=0.3").text
    assert f'src="/image/{eid}/input.png?window=0.2&amp;level=0.3"' in page
    assert 'id="window"' in page and 'linearGradient id="heat"' in page


def web_data(web: WebProject) -> Path:
    """The dataset folder the fixture's predictions name."""
    return Path(json.loads((web.predictions / "predictions.json").read_text())["data"])


def name_dataset(web: WebProject, data: str) -> None:
    """Rewrite the dataset path the predictions record."""
    meta_path = web.predictions / "predictions.json"
    meta = json.loads(meta_path.read_text())
    meta_path.write_text(json.dumps({**meta, "data": data}))


def test_a_relative_dataset_path_resolves_from_elsewhere(
    web: WebProject, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = web_data(web)
    common = Path(os.path.commonpath([data, web.predictions]))
    name_dataset(web, os.path.relpath(data, common))  # as written from `common`
    monkeypatch.chdir(web.project)  # started from elsewhere, as the report's command is
    app = create_app(web.predictions, web.project, allowed_hosts=allowed_hosts_for(*HOST))
    images = app.state.workbench.images
    assert images.available() == list(KINDS) and images.warnings() == []


def test_a_missing_dataset_is_said_on_every_page(
    web: WebProject, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = web_data(web)
    name_dataset(web, "moved/away/data")
    monkeypatch.chdir(tmp_path)
    app = create_app(web.predictions, web.project, allowed_hosts=allowed_hosts_for(*HOST))
    eid = web.eyeball_errors[0]
    with TestClient(app, base_url=BASE) as missing:
        for path in ("/gallery", "/tally", "/history", f"/example/{eid}"):
            html = missing.get(path).text
            assert "not shown: input slice, truth: tumour outline." in html, path
            assert "moved/away/data" in html and "--data DATASET" in html, path
        page = missing.get(f"/example/{eid}").text
        assert page.count('class="missing"') == 2 and page.count('class="pictures"') == 1
        assert missing.get(f"/image/{eid}/input.png").status_code == 404
        assert png_array(missing.get(f"/thumbnail/{eid}.png")).shape == (128, 128, 3)
    given = create_app(web.predictions, web.project, data=data)
    assert given.state.workbench.images.warnings() == []
    other = tmp_path / "other"
    shutil.copytree(data, other)
    manifest = json.loads((other / "manifest.json").read_text())
    (other / "manifest.json").write_text(json.dumps({**manifest, "content_hash": "0" * 64}))
    with pytest.raises(InputError, match="content hash differs"):
        create_app(web.predictions, web.project, data=other)
    result = run_cli(
        "errors", "serve", "--predictions", web.predictions, "--project", web.project,
        "--data", other,
    )  # fmt: skip
    assert_one_line_error(result, "is not the dataset of")

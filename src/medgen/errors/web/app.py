"""The eyeballing web app (`medgen errors serve`): a Starlette app over the project's store.

Routes (ids are integers by the route itself; no route takes a file name or a path):

    GET  /                               -> /gallery
    GET  /gallery                        the eyeball errors of the split in force, filtered and
                                         sorted by the URL query (`selection.Query`)
    GET  /example/{id}                   one error: pictures, truth, prediction, metadata, tags
    POST /example/{id}/tag               one tag on one error, then back or on: see `tagging`
    POST /tag                            one tag on many errors at once: see `tagging`
    GET  /image/{id}/{kind}.png          a picture, drawn on the fly (kinds in images.KINDS)
    GET  /thumbnail/{id}.png             the gallery's picture, outlines included
    GET  /tally                          the error tally with ceilings; each row links to its
                                         errors in the gallery
    GET  /history                        eyeball vs blackbox error over evaluations, the watch
    GET  /static/{name}                  app.js or style.css, by name from a fixed list

Every id that is not an eyeball error of the current split generation (blackbox, retired,
correct, unknown) gets a bare 404, on every route. State lives only in the SQLite store, opened
per request (connections are per thread); the predictions and pictures are read-only files.
Hosts other than the bound address and port are refused (DNS rebinding); a form post needs its
session's token and refuses another site's Origin (cross-site request forgery): see `guard`.
"""

from __future__ import annotations

import getpass
from collections.abc import Sequence
from importlib import resources
from pathlib import Path

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from medgen.detect.predictions import read_predictions
from medgen.errors.store import ErrorStore
from medgen.errors.web.guard import HostGuard, SecurityHeaders, allowed_hosts_for
from medgen.errors.web.images import KIND_TITLES, load_images
from medgen.errors.web.pages import example, gallery, history, home, tally
from medgen.errors.web.tagging import tag, tag_many
from medgen.errors.web.views import eyeball_errors
from medgen.errors.web.workbench import (
    Workbench,
    example_id_of,
    not_found,
    query_of,
    workbench_of,
)
from medgen.exceptions import InputError

DEFAULT_PORT = 8765
STATIC = {"app.js": "text/javascript; charset=utf-8", "style.css": "text/css; charset=utf-8"}


def checked_error(request: Request) -> tuple[Workbench, int]:
    """The workbench and the path's id, or a bare 404 if the id is not an eyeball error."""
    workbench, example_id = workbench_of(request), example_id_of(request)
    with workbench.store() as store:
        if eyeball_errors(store, workbench.predictions).position(example_id) is None:
            raise not_found()
    return workbench, example_id


def image(request: Request) -> Response:
    """GET /image/{id}/{kind}.png: a picture of an eyeball error, drawn now."""
    kind = str(request.path_params["kind"])
    if kind not in KIND_TITLES:
        raise not_found()
    workbench, example_id = checked_error(request)
    png = workbench.images.png(kind, example_id, query_of(request).window_of())
    if png is None:
        raise not_found()
    return Response(png, media_type="image/png")


def thumbnail(request: Request) -> Response:
    """GET /thumbnail/{id}.png: the gallery's picture of an eyeball error, drawn now."""
    workbench, example_id = checked_error(request)
    png = workbench.images.thumbnail(example_id, query_of(request).window_of())
    if png is None:
        raise not_found()
    return Response(png, media_type="image/png")


def input_error(request: Request, exc: Exception) -> Response:
    """Bad state met mid-run (e.g. a refreshed split that no longer fits): one line, 409."""
    return PlainTextResponse(f"medgen: error: {exc}", status_code=409)


def static(request: Request) -> Response:
    """GET /static/{name}: one of the app's two files, by name."""
    name = str(request.path_params["name"])
    if name not in STATIC:
        raise not_found()
    return Response(workbench_of(request).static[name], media_type=STATIC[name])


ROUTES = [
    Route("/", home),
    Route("/gallery", gallery),
    Route("/example/{example_id:int}", example),
    Route("/example/{example_id:int}/tag", tag, methods=["POST"]),
    Route("/tag", tag_many, methods=["POST"]),
    Route("/image/{example_id:int}/{kind}.png", image),
    Route("/thumbnail/{example_id:int}.png", thumbnail),
    Route("/tally", tally),
    Route("/history", history),
    Route("/static/{name}", static),
]


def read_static() -> dict[str, bytes]:
    """The bytes of the app's static files, read once from the package."""
    folder = resources.files("medgen.errors.web") / "static"
    return {name: (folder / name).read_bytes() for name in STATIC}


def create_app(
    predictions: str | Path,
    project: str | Path,
    *,
    data: str | Path | None = None,
    author: str | None = None,
    allowed_hosts: Sequence[str] = tuple(allowed_hosts_for("127.0.0.1", DEFAULT_PORT)),
) -> Starlette:
    """The eyeballing app over `project`'s store for `predictions` (InputError if they misfit);
    `data` is the dataset folder when the predictions' own path to it does not resolve."""
    preds = read_predictions(predictions)
    with ErrorStore(project, create=False) as store:
        eyeball_errors(store, preds)  # now, not at the first request: no split, or the wrong one
    workbench = Workbench(
        predictions=preds,
        project=Path(project),
        author=author or getpass.getuser(),
        images=load_images(preds, project, data),
        static=read_static(),
    )
    app = Starlette(
        routes=ROUTES,
        middleware=[
            Middleware(HostGuard, allowed_hosts=list(allowed_hosts)),
            Middleware(SecurityHeaders),
        ],
        exception_handlers={InputError: input_error},
    )
    app.state.workbench = workbench
    return app

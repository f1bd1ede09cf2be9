"""The eyeballing web app (`medgen errors serve`): a Starlette app over the project's store.

Routes (ids are integers by the route itself; no route takes a file name or a path):

    GET  /                               -> /gallery
    GET  /gallery                        the eyeball errors of the split in force
    GET  /example/{id}                   one error: pictures, truth, prediction, metadata, tags
    POST /example/{id}/tag               form: category, action=add|remove, csrf_token; 303 back
    GET  /image/{id}/{kind}.png          a picture, drawn on the fly (kinds in images.KINDS)
    GET  /tally                          the error tally with ceilings, as a table and a chart
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
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.templating import Jinja2Templates

from medgen.detect.predictions import Predictions, read_predictions
from medgen.errors.store import ErrorStore, check_category_name
from medgen.errors.tally import tag_example, tally_project
from medgen.errors.watch import watch_project
from medgen.errors.web.guard import (
    TOKEN_FIELD,
    HostGuard,
    SecurityHeaders,
    allowed_hosts_for,
    form_token,
    new_form_key,
    new_session,
    same_origin,
    session_of,
    set_session_cookie,
    token_matches,
)
from medgen.errors.web.images import KIND_TITLES, ExampleImages, load_images
from medgen.errors.web.views import (
    EyeballErrors,
    example_view,
    eyeball_errors,
    gallery_rows,
    history_chart,
    tag_categories,
    tags_of,
    tally_chart,
    toggles,
)
from medgen.exceptions import InputError

DEFAULT_PORT = 8765
STATIC = {"app.js": "text/javascript; charset=utf-8", "style.css": "text/css; charset=utf-8"}
FORM_LIMITS = {"max_files": 0, "max_fields": 4, "max_part_size": 4096}
STALE_FORM = "this form is stale or not from this app's page: reload the page and try again"


@dataclass(frozen=True)
class Workbench:
    """What every request needs: the predictions, the project folder, the pictures, the author."""

    predictions: Predictions
    project: Path
    author: str
    images: ExampleImages
    static: dict[str, bytes]
    form_key: bytes = field(default_factory=new_form_key, repr=False)  # signs form tokens

    def store(self) -> ErrorStore:
        """A fresh connection to the project's store (one per request and thread)."""
        return ErrorStore(self.project, create=False)


def make_templates() -> Jinja2Templates:
    """The page templates, autoescaped, strict about undefined names."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("medgen.errors.web", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["pct"] = lambda x: f"{100 * float(x):.1f}%"
    return Jinja2Templates(env=env)


TEMPLATES = make_templates()


def workbench_of(request: Request) -> Workbench:
    """The app's Workbench."""
    workbench: Workbench = request.app.state.workbench
    return workbench


def render(request: Request, name: str, status_code: int = 200, **context: Any) -> Response:
    """Render template `name` with the context every page shares, the session's form token too.

    A browser without a session gets one (a cookie) with the page.
    """
    workbench = workbench_of(request)
    session = session_of(request)
    fresh = session is None
    session = session or new_session()
    shared = {
        "model_version": workbench.predictions.model_version,
        "split_name": workbench.predictions.split,
        "csrf_token": form_token(workbench.form_key, session),
    }
    response = TEMPLATES.TemplateResponse(
        request, name, {**shared, **context}, status_code=status_code
    )
    if fresh:
        set_session_cookie(response, session)
    return response


def example_id_of(request: Request) -> int:
    """The `{example_id:int}` path parameter."""
    return int(request.path_params["example_id"])


def not_found() -> HTTPException:
    """A bare 404: it says nothing about why (blackbox, unknown, not an error)."""
    return HTTPException(404)


# ---- pages --------------------------------------------------------------------------------


def home(request: Request) -> Response:
    """Redirect to the gallery."""
    return RedirectResponse("/gallery", status_code=303)


def gallery(request: Request) -> Response:
    """The eyeball errors of the split in force, with their tags."""
    workbench = workbench_of(request)
    with workbench.store() as store:
        errors = eyeball_errors(store, workbench.predictions)
        ids = [int(i) for i in errors.table["id"]]
        tags = tags_of(store, errors.split.content_hash, ids)
    kinds = workbench.images.available()
    rows = gallery_rows(errors, tags)
    return render(
        request,
        "gallery.html",
        title="eyeball errors",
        errors=errors,
        split=errors.split,
        rows=rows,
        thumbnail=kinds[0] if kinds else None,
        first_id=ids[0] if ids else None,
    )


def example_page(
    request: Request, workbench: Workbench, example_id: int, message: str = "", status: int = 200
) -> Response:
    """The page of one eyeball error (404 for any other id)."""
    with workbench.store() as store:
        errors = eyeball_errors(store, workbench.predictions)
        if errors.position(example_id) is None:
            raise not_found()
        tags = tags_of(store, errors.split.content_hash, [example_id])[example_id]
        categories = tag_categories(store)
    view = example_view(errors, example_id, tags)
    assert view is not None
    return render(
        request,
        "example.html",
        status_code=status,
        title=f"error {example_id}",
        view=view,
        split=errors.split,
        toggles=toggles(categories, tags),
        categories=categories,
        kinds=[(k, KIND_TITLES[k]) for k in workbench.images.available()],
        message=message,
    )


def example(request: Request) -> Response:
    """GET /example/{id}."""
    return example_page(request, workbench_of(request), example_id_of(request))


async def checked_form(request: Request) -> dict[str, str]:
    """The fields of a form post from this app's own page; 403 for any other (every POST route).

    The session's token is required whatever headers come with it; Origin / Sec-Fetch-Site,
    where a browser sends them, must also say the post comes from this app.
    """
    if not same_origin(request):
        raise HTTPException(403)
    async with request.form(**FORM_LIMITS) as form:
        fields = {key: str(value) for key, value in form.items()}
    token = fields.pop(TOKEN_FIELD, "")
    if not token_matches(workbench_of(request).form_key, session_of(request), token):
        raise HTTPException(403, STALE_FORM)
    return fields


def apply_tag(workbench: Workbench, example_id: int, category: str, action: str) -> str:
    """Add or remove one tag on an eyeball error; '' or the reason it was refused."""
    if action not in ("add", "remove"):
        return f"unknown action {action!r}"
    try:
        check_category_name(category)
        with workbench.store() as store:
            errors: EyeballErrors = eyeball_errors(store, workbench.predictions)
            if errors.position(example_id) is None:
                raise not_found()
            tag_example(
                store,
                example_id,
                category,
                author=workbench.author,
                predictions=workbench.predictions,
                remove=action == "remove",
            )
    except InputError as err:
        return str(err)
    return ""


async def tag(request: Request) -> Response:
    """POST /example/{id}/tag: add or remove a tag, then back to the example (303)."""
    workbench, example_id = workbench_of(request), example_id_of(request)
    form = await checked_form(request)
    category = form.get("category", "").strip().lower()
    action = form.get("action", "add")
    message = await run_in_threadpool(apply_tag, workbench, example_id, category, action)
    if message:
        return await run_in_threadpool(example_page, request, workbench, example_id, message, 400)
    return RedirectResponse(f"/example/{example_id}", status_code=303)


def image(request: Request) -> Response:
    """GET /image/{id}/{kind}.png: a picture of an eyeball error, drawn now."""
    workbench, example_id = workbench_of(request), example_id_of(request)
    kind = str(request.path_params["kind"])
    if kind not in KIND_TITLES:
        raise not_found()
    with workbench.store() as store:
        if eyeball_errors(store, workbench.predictions).position(example_id) is None:
            raise not_found()
    png = workbench.images.png(kind, example_id)
    if png is None:
        raise not_found()
    return Response(png, media_type="image/png")


def tally(request: Request) -> Response:
    """GET /tally: the error tally of the eyeball set, live from the store."""
    workbench = workbench_of(request)
    with workbench.store() as store:
        result = tally_project(store, workbench.predictions)
        split = eyeball_errors(store, workbench.predictions).split
    return render(
        request,
        "tally.html",
        title="tally",
        tally=result,
        split=split,
        chart=tally_chart(result.summary_, result.error_rate_),
    )


def history(request: Request) -> Response:
    """GET /history: eyeball vs blackbox error of every evaluation, and the overfitting watch."""
    workbench = workbench_of(request)
    with workbench.store() as store:
        split = eyeball_errors(store, workbench.predictions).split
        watch = watch_project(store, workbench.predictions)
        evaluations = store.evaluations()
        current = store.evaluations(split.split_id)
    return render(
        request,
        "history.html",
        title="history",
        split=split,
        watch=watch,
        evaluations=evaluations,
        chart=history_chart(current),
    )


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
    Route("/image/{example_id:int}/{kind}.png", image),
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
    author: str | None = None,
    allowed_hosts: Sequence[str] = tuple(allowed_hosts_for("127.0.0.1", DEFAULT_PORT)),
) -> Starlette:
    """The eyeballing app over `project`'s store for `predictions` (InputError if they misfit)."""
    preds = read_predictions(predictions)
    with ErrorStore(project, create=False) as store:
        eyeball_errors(store, preds)  # now, not at the first request: no split, or the wrong one
    workbench = Workbench(
        predictions=preds,
        project=Path(project),
        author=author or getpass.getuser(),
        images=load_images(preds),
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

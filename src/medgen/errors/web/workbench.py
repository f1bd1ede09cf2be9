"""What every request of the eyeballing app shares: the workbench, the templates, the checks.

`Workbench` holds the read-only inputs (predictions, pictures, static files) and opens the
SQLite store per request (connections are per thread). `render` gives every page the session's
form token and the warnings about missing picture sources; `checked_form` is the one way a
POST's fields are read (session token, same origin: see `guard`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.templating import Jinja2Templates

from medgen.detect.predictions import Predictions
from medgen.errors.store import ErrorStore
from medgen.errors.web.guard import (
    TOKEN_FIELD,
    form_token,
    new_form_key,
    new_session,
    same_origin,
    session_of,
    set_session_cookie,
    token_matches,
)
from medgen.errors.web.images import ExampleImages
from medgen.errors.web.selection import Query

FORM_LIMITS = {"max_files": 0, "max_fields": 5, "max_part_size": 4096}
MAX_BULK = 5000  # ids one multi-tag post may carry (eyeball sets hold at most ~500 errors)
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


def query_of(request: Request) -> Query:
    """The gallery query of the request's URL."""
    return Query.parse(request.query_params)


def example_id_of(request: Request) -> int:
    """The `{example_id:int}` path parameter."""
    return int(request.path_params["example_id"])


def not_found() -> HTTPException:
    """A bare 404: it says nothing about why (blackbox, unknown, not an error)."""
    return HTTPException(404)


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
        "warnings": workbench.images.warnings(),
    }
    response = TEMPLATES.TemplateResponse(
        request, name, {**shared, **context}, status_code=status_code
    )
    if fresh:
        set_session_cookie(response, session)
    return response


async def checked_form(request: Request, *, max_fields: int = 5) -> FormData:
    """The fields of a form post from this app's own page; 403 for any other (every POST route).

    The session's token is required whatever headers come with it; Origin / Sec-Fetch-Site,
    where a browser sends them, must also say the post comes from this app.
    """
    if not same_origin(request):
        raise HTTPException(403)
    limits = {**FORM_LIMITS, "max_fields": max_fields}
    async with request.form(**limits) as form:
        fields = FormData([(key, str(value)) for key, value in form.multi_items()])
    token = str(fields.get(TOKEN_FIELD, ""))
    if not token_matches(workbench_of(request).form_key, session_of(request), token):
        raise HTTPException(403, STALE_FORM)
    return fields

"""Tagging in the eyeballing app: one example (and on to the next), or many at once.

    POST /example/{id}/tag   form: category, action=add|remove, advance=1 (then the next error
                             of the page's selection), csrf_token; 303 to that page
    POST /tag                form: id (repeated), category (or preset, a category's button),
                             action, csrf_token; 303 to the gallery

Both keep the URL query (the gallery's filters and sort) they were posted with. A multi-tag post
is one transaction: every id must be an eyeball error of the split in force, or nothing is
tagged and the answer is a bare 404, as for any other route.
"""

from __future__ import annotations

from collections.abc import Sequence

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from medgen.errors.store import check_category_name
from medgen.errors.tally import tag_example
from medgen.errors.web.pages import example_page, gallery_page
from medgen.errors.web.selection import choose
from medgen.errors.web.views import eyeball_errors
from medgen.errors.web.workbench import (
    MAX_BULK,
    Workbench,
    checked_form,
    example_id_of,
    not_found,
    query_of,
    workbench_of,
)
from medgen.exceptions import InputError


def apply_tags(workbench: Workbench, example_ids: Sequence[int], category: str, action: str) -> str:
    """Add or remove one tag on eyeball errors, all or none; '' or the reason it was refused."""
    if action not in ("add", "remove"):
        return f"unknown action {action!r}"
    if not example_ids:
        return "no errors selected: tick some first"
    try:
        check_category_name(category)
        with workbench.store() as store, store.transaction():
            errors = eyeball_errors(store, workbench.predictions)
            if any(errors.position(i) is None for i in example_ids):
                raise not_found()
            for example_id in example_ids:
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


def next_error(request: Request, workbench: Workbench, example_id: int) -> int | None:
    """The error after `example_id` in the selection of the request's query, before tagging
    (a tag may take the example itself out of that selection)."""
    with workbench.store() as store:
        chosen = choose(store, workbench.predictions, query_of(request))
    return chosen.selection.neighbours(example_id)[1]


async def tag(request: Request) -> Response:
    """POST /example/{id}/tag: add or remove a tag, then back to the example or on (303)."""
    workbench, example_id = workbench_of(request), example_id_of(request)
    form = await checked_form(request)
    category = str(form.get("category", "")).strip().lower()
    action = str(form.get("action", "add"))
    advance = form.get("advance", "") == "1"
    after = await run_in_threadpool(next_error, request, workbench, example_id) if advance else None
    message = await run_in_threadpool(apply_tags, workbench, [example_id], category, action)
    if message:
        return await run_in_threadpool(example_page, request, workbench, example_id, message, 400)
    suffix = query_of(request).suffix()
    if advance and after is None:
        return RedirectResponse(f"/gallery{suffix}", status_code=303)  # the last one: all done
    return RedirectResponse(f"/example/{after or example_id}{suffix}", status_code=303)


async def tag_many(request: Request) -> Response:
    """POST /tag: add or remove a tag on every ticked error, then back to the gallery (303)."""
    workbench = workbench_of(request)
    form = await checked_form(request, max_fields=MAX_BULK + 5)
    category = str(form.get("preset") or form.get("category", "")).strip().lower()
    action = str(form.get("action", "add"))
    try:
        ids = sorted({int(str(i)) for i in form.getlist("id")})
    except ValueError:
        raise not_found() from None
    message = await run_in_threadpool(apply_tags, workbench, ids, category, action)
    if message:
        return await run_in_threadpool(gallery_page, request, message, 400)
    return RedirectResponse(f"/gallery{query_of(request).suffix()}", status_code=303)

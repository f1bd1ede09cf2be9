"""The eyeballing app's pages: gallery, example, tally, history (GET only; no writes here)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from medgen.errors.tally import tally_project
from medgen.errors.watch import watch_project
from medgen.errors.web.images import KIND_TITLES, KINDS, WINDOWED
from medgen.errors.web.selection import NO_TAG, WINDOW_RANGE, Query, choose, filter_options
from medgen.errors.web.views import (
    colour_bar,
    example_view,
    eyeball_errors,
    gallery_rows,
    history_chart,
    tally_chart,
    toggles,
)
from medgen.errors.web.workbench import (
    Workbench,
    example_id_of,
    not_found,
    query_of,
    render,
    workbench_of,
)


def home(request: Request) -> Response:
    """Redirect to the gallery."""
    return RedirectResponse("/gallery", status_code=303)


def gallery_page(request: Request, message: str = "", status: int = 200) -> Response:
    """The eyeball errors of the split in force that pass the query's filters, in its order."""
    workbench, query = workbench_of(request), query_of(request)
    with workbench.store() as store:
        chosen = choose(store, workbench.predictions, query)
    chosen_ids = chosen.selection.chosen
    return render(
        request,
        "gallery.html",
        status_code=status,
        title="eyeball errors",
        errors=chosen.errors,
        split=chosen.errors.split,
        rows=gallery_rows(chosen.errors, chosen.tags, chosen_ids),
        options=filter_options(chosen.errors, chosen.tally, chosen.tag_names),
        categories=chosen.tag_names,
        toggles=toggles(chosen.tag_names, []),
        query=query,
        no_tag=NO_TAG,
        thumbnails="images" in workbench.images.arrays or "preprocessed" in workbench.images.arrays,
        first_id=chosen_ids[0] if chosen_ids else None,
        message=message,
    )


def gallery(request: Request) -> Response:
    """GET /gallery."""
    return gallery_page(request)


def example_page(
    request: Request, workbench: Workbench, example_id: int, message: str = "", status: int = 200
) -> Response:
    """The page of one eyeball error (404 for any other id)."""
    query = query_of(request)
    with workbench.store() as store:
        chosen = choose(store, workbench.predictions, query)
    tags = chosen.tags.get(example_id)
    selection = chosen.selection
    view = example_view(
        chosen.errors,
        example_id,
        tags or [],
        selection.chosen,
        selection.neighbours(example_id),
        chosen.tally.sheet_,
    )
    if view is None or tags is None:
        raise not_found()
    available = workbench.images.available()
    return render(
        request,
        "example.html",
        status_code=status,
        title=f"error {example_id}",
        view=view,
        split=chosen.errors.split,
        toggles=toggles(chosen.tag_names, view.tags),
        categories=chosen.tag_names,
        kinds=[(k, KIND_TITLES[k], k in WINDOWED) for k in available],
        missing=[KIND_TITLES[k] for k in KINDS if k not in available],
        windowed=any(k in WINDOWED for k in available),
        window=query.window_of(),
        window_range=WINDOW_RANGE,
        colour_bar=colour_bar(),
        query=query,
        message=message,
    )


def example(request: Request) -> Response:
    """GET /example/{id}."""
    return example_page(request, workbench_of(request), example_id_of(request))


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
        link=lambda category: "/gallery" + Query(category=category).suffix(),
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

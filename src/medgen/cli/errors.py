"""`medgen errors ...`: the error-analysis workbench: split, tally, tags, evaluations."""

from __future__ import annotations

import getpass
from collections.abc import Sequence
from pathlib import Path

import typer

from medgen.exceptions import InputError

errors_app = typer.Typer(
    rich_markup_mode=None,  # a help text's "[default: ...]" is text, not markup
    no_args_is_help=True,
    help="Error analysis (Machine Learning Yearning): eyeball/blackbox split, error tally with "
    "ceilings, tags, evaluations and the overfitting watch; state in PROJECT/errors.sqlite.",
)

PROJECT_HELP = "Project folder holding errors.sqlite."
PREDICTIONS_HELP = "Predictions folder (predictions.csv + predictions.json)."


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def _print_table(title: str, columns: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """A plain rich table on stdout (no colour codes when piped)."""
    from rich import box
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, box=box.SIMPLE, title_justify="left")
    for i, column in enumerate(columns):
        table.add_column(column, justify="left" if i == 0 else "right")
    for row in rows:
        table.add_row(*map(str, row))
    Console(highlight=False, soft_wrap=True).print(table)


def _warn(message: str) -> None:
    typer.echo(f"medgen: warning: {message}", err=True)


@errors_app.command("split")
def split_command(
    predictions: Path = typer.Option(..., "--predictions", help=PREDICTIONS_HELP),
    project: Path = typer.Option(Path("."), "--project", help=PROJECT_HELP),
    target_errors: int = typer.Option(100, help="Errors the eyeball set should hold (20-500)."),
    seed: int = typer.Option(0, help="Seed of the stratified draw."),
    refresh: bool = typer.Option(
        False, help="Retire the eyeball set and draw a new one from the blackbox set."
    ),
) -> None:
    """Split the dev set into eyeball (looked at) and blackbox (only measured) sets.

    The eyeball set is sized to hold ~TARGET_ERRORS errors at the current error rate, while the
    blackbox set keeps at least min(1000, half the dev set); the split is stored and reused.

    Example: medgen errors split --predictions detector/predictions/dev --project proj
    """
    from medgen.errors import ErrorStore, read_predictions, split_project
    from medgen.validate import random_seed

    if target_errors < 1:
        raise InputError("--target-errors", f"{target_errors} must be at least 1")
    random_seed("seed", seed)  # before the store: a refused seed leaves no project behind
    preds = read_predictions(predictions)
    with ErrorStore(project) as store:
        outcome = split_project(
            store, preds, target_errors=target_errors, seed=seed, refresh=refresh
        )
    split = outcome.split
    sizes = (
        f"eyeball {len(split.eyeball)}, blackbox {len(split.blackbox)}, "
        f"retired {len(split.retired)}"
    )
    where = f"{split.split_name} of dataset {split.content_hash[:12]}"
    if not outcome.created:
        print(f"using the stored split of {where} (generation {split.generation}): {sizes}")
        print("pass --refresh to draw a new eyeball set from the blackbox set")
        return
    assert outcome.size is not None
    size = outcome.size
    print(f"new split of {where} (generation {split.generation}, {split.reason}): {sizes}")
    print(
        f"error rate {_pct(size.error_rate)} -> ~{size.expected_errors:.0f} eyeball errors "
        f"(target {size.target_errors}, sized by {size.limited_by})"
    )
    for warning in size.warnings:
        _warn(warning)


@errors_app.command("tally")
def tally_command(
    predictions: Path = typer.Option(..., "--predictions", help=PREDICTIONS_HELP),
    project: Path = typer.Option(Path("."), "--project", help=PROJECT_HELP),
    by: str | None = typer.Option(
        None,
        help="Metadata groups, comma-separated: location, tumour_type, size_bin, noise_bin, "
        "enhancing, error_kind.  [default: all the predictions have]",
    ),
    out: Path | None = typer.Option(
        None, help="Write the error spreadsheet (one row per error). [default: not written]"
    ),
    summary: Path | None = typer.Option(
        None, help="Write the per-category summary CSV. [default: not written]"
    ),
) -> None:
    """The error spreadsheet of the eyeball set: % of errors and ceiling per category.

    Example: medgen errors tally --predictions detector/predictions/dev --project proj --by location
    """
    from medgen.errors import ErrorStore, read_predictions, tally_project
    from medgen.errors.tally import parse_groups
    from medgen.fileio import write_text_atomic

    groups = parse_groups(by)
    preds = read_predictions(predictions)
    with ErrorStore(project, create=False) as store:
        tally = tally_project(store, preds, groups)
    title = (
        f"eyeball set: {tally.n_examples_} examples, {tally.n_errors_} errors, "
        f"error rate {_pct(tally.error_rate_)}"
    )
    rows = [
        (
            r.category,
            r.source,
            r.count,
            _pct(r.share),
            f"{100 * r.max_improvement:.1f} pts",
            _pct(r.error_rate_if_fixed),
        )
        for r in tally.summary_.itertuples()
    ]
    columns = ("category", "source", "errors", "% of errors", "max improvement", "error if fixed")
    _print_table(title, columns, rows)
    for note in tally.notes_:
        print(f"note: {note}")
    for path, frame in ((out, tally.sheet_), (summary, tally.summary_)):
        if path is not None:
            write_text_atomic(path, frame.to_csv(index=False))
            print(f"wrote {path}")


@errors_app.command("tag")
def tag_command(
    example_id: int = typer.Argument(..., metavar="ID", help="Example id (an eyeball example)."),
    category: str = typer.Argument(..., help="Category, e.g. blurry or mislabeled."),
    remove: bool = typer.Option(False, help="Remove the tag instead of adding it."),
    project: Path = typer.Option(Path("."), "--project", help=PROJECT_HELP),
    predictions: Path | None = typer.Option(
        None, help="Predictions folder naming the dataset.  [default: the latest split's]"
    ),
    author: str | None = typer.Option(None, help="Who tags.  [default: the login name]"),
    description: str = typer.Option(
        "", help="Description of a new category. [default: none]", show_default=False
    ),
) -> None:
    """Tag an eyeball example with an error category (categories may overlap).

    Example: medgen errors tag 1234 blurry --project proj
    """
    from medgen.errors import ErrorStore, read_predictions, tag_example

    preds = None if predictions is None else read_predictions(predictions)
    with ErrorStore(project, create=False) as store:
        outcome = tag_example(
            store,
            example_id,
            category,
            author=author or getpass.getuser(),
            predictions=preds,
            remove=remove,
            description=description,
        )
    verb = "removed" if remove else "added"
    state = verb if outcome.changed else f"nothing to do (already {verb})"
    print(f"id {example_id} {category}: {state}")


@errors_app.command("evaluate")
def evaluate_command(
    predictions: Path = typer.Option(..., "--predictions", help=PREDICTIONS_HELP),
    project: Path = typer.Option(Path("."), "--project", help=PROJECT_HELP),
) -> None:
    """Record the model's eyeball and blackbox error on the current split; watch for overfitting.

    Example: medgen errors evaluate --predictions detector/predictions/dev --project proj
    """
    from medgen.errors import ErrorStore, evaluate_project, read_predictions

    preds = read_predictions(predictions)
    with ErrorStore(project, create=False) as store:
        outcome = evaluate_project(store, preds)
    e = outcome.evaluation
    print(
        f"{e.model_version} on split generation {e.generation}: eyeball error "
        f"{_pct(e.eyeball_error)} (n={e.n_eyeball}), blackbox error {_pct(e.blackbox_error)} "
        f"(n={e.n_blackbox})"
    )
    if outcome.watch.message_:
        _warn(outcome.watch.message_)


@errors_app.command("history")
def history_command(
    project: Path = typer.Option(Path("."), "--project", help=PROJECT_HELP),
    predictions: Path | None = typer.Option(
        None, help="Predictions folder naming the dataset.  [default: the latest split's]"
    ),
) -> None:
    """Eyeball vs blackbox error of every evaluation, and the overfitting watch's verdict.

    Example: medgen errors history --project proj
    """
    from medgen.errors import ErrorStore, read_predictions, watch_project

    preds = None if predictions is None else read_predictions(predictions)
    with ErrorStore(project, create=False) as store:
        watch = watch_project(store, preds)
        history = store.evaluations()
    rows = [
        (
            e.created_at[:19],
            e.model_version,
            e.generation,
            _pct(e.eyeball_error),
            _pct(e.blackbox_error),
            e.n_eyeball,
            e.n_blackbox,
        )
        for e in history
    ]
    columns = ("time (UTC)", "model", "generation", "eyeball", "blackbox", "n eyeball", "n bb")
    _print_table(f"{len(history)} evaluation(s)", columns, rows)
    if watch.message_:
        _warn(watch.message_)
    else:
        print(f"no sign of overfitting the eyeball set ({watch.n_used_} evaluation(s) watched)")


@errors_app.command("parts")
def parts_command(
    run: Path = typer.Argument(..., help="The detector run that made the predictions."),
    predictions: Path = typer.Option(..., "--predictions", help=PREDICTIONS_HELP),
    project: Path = typer.Option(Path("."), "--project", help=PROJECT_HELP),
) -> None:
    """Error analysis by parts on the eyeball set: which part's perfect output fixes each error.

    Each eyeball error is re-run with a perfect preprocess (the clean slice), then a perfect
    extract (the true mask); it belongs to the first part whose perfect output fixes it, else to
    classify. The ceiling rows give the accuracy with parts 1..k perfect.

    Example: medgen errors parts detector --predictions detector/predictions/dev --project proj
    """
    from medgen.data.store import open_dataset
    from medgen.detect.pipeline import BoundDetector, load_detector, model_version
    from medgen.errors import ErrorStore, attribute_errors, read_predictions
    from medgen.errors.split import split_tables
    from medgen.errors.tally import resolve_split

    preds = read_predictions(predictions)
    if model_version(run) != preds.model_version:
        raise InputError(
            predictions,
            f"were made by {preds.model_version}, not by the "
            f"detector in {run} ({model_version(run)})",
        )
    with ErrorStore(project, create=False) as store:
        split = resolve_split(store, preds)
    eyeball, _ = split_tables(preds, split)
    pipeline = BoundDetector(load_detector(run), open_dataset(preds.data))
    report = attribute_errors(pipeline, eyeball["id"].to_numpy(), eyeball["truth"].to_numpy())
    rows = [
        (
            row.part,
            row.errors,
            row.wrong_type,
            row.verdict or f"{_pct(row.share)} ({_pct(row.share_low)}–{_pct(row.share_high)})",
            "-" if row.part == report.parts[-1] else _pct(row.accuracy_if_perfect_up_to),
        )
        for row in report.table().itertuples()
    ]
    title = f"{report.n_errors} eyeball errors of {report.n_examples} examples, by part"
    columns = ("part", "errors", "wrong type", "share (95% CI)", "accuracy if perfect up to it")
    _print_table(title, columns, rows)
    print(f"accuracy now {_pct(report.ceiling[0].accuracy)}")


@errors_app.command("serve")
def serve_command(
    predictions: Path = typer.Option(..., "--predictions", help=PREDICTIONS_HELP),
    project: Path = typer.Option(Path("."), "--project", help=PROJECT_HELP),
    host: str = typer.Option("127.0.0.1", help="Address to bind; anything but loopback is public."),
    port: int = typer.Option(8765, min=1, max=65535, help="Port to listen on."),
    author: str | None = typer.Option(None, help="Who tags.  [default: the login name]"),
    data: Path | None = typer.Option(
        None,
        "--data",
        help="Dataset folder the predictions were made on, when the path they record does not "
        "resolve from here, the predictions or the project.  [default: the recorded one]",
    ),
) -> None:
    """The eyeballing web app: eyeball errors with each part's output, tags, tally, history.

    Only eyeball-set errors are ever shown; blackbox examples are not served whatever the URL.
    Keys: j/k or arrows move through errors, t focuses the tag box, 1-9 toggle categories,
    shift+1-9 tag and go on; the gallery filters, sorts and tags many errors at once.

    Example: medgen errors serve --predictions detector/predictions/dev --project proj --port 8765
    """
    import uvicorn

    from medgen.errors.web import allowed_hosts_for, create_app, is_loopback, listen_socket
    from medgen.errors.web.guard import bracketed

    hosts = allowed_hosts_for(host, port)
    app = create_app(predictions, project, data=data, author=author, allowed_hosts=hosts)
    with listen_socket(host, port) as sock:  # bound before anything says it serves
        for warning in app.state.workbench.images.warnings():  # also at the top of every page
            _warn(warning)
        if not is_loopback(host):
            _warn(f"binding {host}: anyone who can reach it sees the eyeball set and can tag it")
        url = f"http://{bracketed(host)}:{port}/"
        print(f"serving the eyeball errors on {url} (Ctrl-C to stop)", flush=True)
        config = uvicorn.Config(app, log_level="warning", server_header=False)
        uvicorn.Server(config).run(sockets=[sock])

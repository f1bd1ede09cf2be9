"""The `medgen` command line: parses, validates, calls the library. No logic lives here."""

from __future__ import annotations

import sys

import typer
from rich.console import Console

from medgen import __version__
from medgen.cli.compare import compare_command, features_command
from medgen.cli.data import data_app
from medgen.cli.detect import detect_app
from medgen.cli.errors import errors_app
from medgen.cli.flags import setting_flag
from medgen.cli.lab import lab_app
from medgen.cli.study import study_command
from medgen.cli.tasks import anomaly_command, denoise_command, reconstruct_command
from medgen.cli.train import sample_command, train_command
from medgen.exceptions import InputError, SettingError

app = typer.Typer(
    rich_markup_mode=None,  # a help text's "[default: ...]" is text, not markup
    name="medgen",
    help="Generative models for medical imaging: diffusion, GANs and VAEs on brain MRI.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(data_app, name="data")
app.add_typer(errors_app, name="errors")
app.add_typer(lab_app, name="lab")
app.add_typer(detect_app, name="detect")
app.command("train")(train_command)
app.command("sample")(sample_command)
app.command("compare")(compare_command)
app.command("features")(features_command)
app.command("study")(study_command)
app.command("denoise")(denoise_command)
app.command("anomaly")(anomaly_command)
app.command("reconstruct")(reconstruct_command)

stderr = Console(stderr=True, highlight=False, soft_wrap=True)


def _version(value: bool) -> None:
    if value:
        print(f"medgen {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """medgen: diffusion, GAN and VAE for medical imaging, and error analysis of a detector."""


def main(argv: list[str] | None = None) -> None:
    """Entry point: bad input becomes one line on stderr and exit code 2, never a traceback."""
    try:
        app(args=argv, standalone_mode=False, prog_name="medgen")
    except InputError as exc:
        what = exc.what
        if isinstance(exc, SettingError):  # the library's name -> the running command's flag
            what = setting_flag(app, sys.argv[1:] if argv is None else argv, exc.setting)
        stderr.print(f"medgen: error: {what}: {exc.problem}", markup=False)
        sys.exit(2)
    except KeyboardInterrupt:
        stderr.print("medgen: interrupted; nothing half-written was kept", markup=False)
        sys.exit(130)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        sys.exit(1)
    except Exception as exc:  # usage errors of typer's own click: one line, their exit code (2)
        if not (hasattr(exc, "format_message") and hasattr(exc, "exit_code")):
            raise
        if type(exc).__name__ == "NoArgsIsHelpError":  # a bare group: its help is the answer
            exc.show()  # type: ignore[attr-defined]
        else:
            stderr.print(f"medgen: error: {exc.format_message()}", markup=False)
        sys.exit(exc.exit_code)

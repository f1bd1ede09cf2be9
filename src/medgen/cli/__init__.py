"""The `medgen` command line: parses, validates, calls the library. No logic lives here."""

from __future__ import annotations

import os
import sys
from typing import Any, NoReturn

import typer
import typer.main
from rich.console import Console
from typer.exceptions import TyperException

from medgen import __version__
from medgen.cli.classify import classify_command
from medgen.cli.compare import compare_command, features_command
from medgen.cli.data import data_app
from medgen.cli.detect import detect_app
from medgen.cli.errors import errors_app
from medgen.cli.flags import setting_flag
from medgen.cli.lab import lab_app
from medgen.cli.reference import reference_app
from medgen.cli.register import register_command
from medgen.cli.remedy import remedy_command
from medgen.cli.segment import segment_command
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
errors_app.command("remedy")(remedy_command)
app.add_typer(errors_app, name="errors")
app.add_typer(lab_app, name="lab")
app.add_typer(detect_app, name="detect")
app.add_typer(reference_app, name="reference")
app.command("train")(train_command)
app.command("sample")(sample_command)
app.command("compare")(compare_command)
app.command("features")(features_command)
app.command("study")(study_command)
app.command("denoise")(denoise_command)
app.command("anomaly")(anomaly_command)
app.command("reconstruct")(reconstruct_command)
app.command("classify")(classify_command)
app.command("segment")(segment_command)
app.command("register")(register_command)

stderr = Console(stderr=True, highlight=False, soft_wrap=True)
DEBUG_VARIABLE = "MEDGEN_DEBUG"  # set (not 0) in the environment: faults show their traceback


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
    """Entry point: bad input and usage errors become one line on stderr and exit code 2, Ctrl-C
    exit code 130, an unexpected exception one line and exit code 1. A traceback only with
    MEDGEN_DEBUG=1."""
    args = sys.argv[1:] if argv is None else list(argv)
    try:
        run(args)
    except InputError as exc:
        what = exc.what
        if isinstance(exc, SettingError):  # the library's name -> the running command's flag
            what = setting_flag(app, args, exc.setting)
        fail(f"{what}: {exc.problem}", 2)
    except KeyboardInterrupt:
        stderr.print("medgen: interrupted; nothing half-written was kept", markup=False)
        sys.exit(130)
    except typer.Exit as exc:  # --help, --version, a command's own exit code
        sys.exit(exc.exit_code)
    except typer.Abort:
        sys.exit(1)
    except BrokenPipeError:  # the reader of stdout went away (`medgen ... | head`)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(1)
    except TyperException as exc:  # a usage error of typer's own click: its exit code (2)
        ctx: Any = getattr(exc, "ctx", None)  # the context of the command it was raised in
        if type(exc).__name__ == "NoArgsIsHelpError" and ctx is not None:
            try:  # a bare group (`medgen`, `medgen data`): its help, exit 0
                print(ctx.get_help())
            except BrokenPipeError:
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            sys.exit(0)
        fail(" ".join(exc.format_message().split()), exc.exit_code)  # choices: one line too
    except Exception as exc:  # a fault in medgen itself: one line, the traceback on request
        if os.environ.get(DEBUG_VARIABLE, "") not in ("", "0"):
            raise
        detail = " ".join(str(exc).split()) or "(no message)"
        fail(
            f"internal error, {type(exc).__name__}: {detail} "
            f"(run again with {DEBUG_VARIABLE}=1 for the traceback)",
            1,
        )


def run(args: list[str]) -> None:
    """Parse `args` and run the command, letting every exception through to `main`.

    typer's own entry point is bypassed on purpose: it turns Ctrl-C into a returned exit code,
    which a caller that expects None would drop (a Ctrl-C would then exit 0).
    """
    command = typer.main.get_command(app)
    with command.make_context("medgen", args) as ctx:
        command.invoke(ctx)


def fail(problem: str, code: int) -> NoReturn:
    """Print `medgen: error: PROBLEM` as one line on stderr and exit with `code`."""
    stderr.print(f"medgen: error: {problem}", markup=False)
    sys.exit(code)

"""From a library setting's name to the command-line option that sets it."""

from __future__ import annotations

from collections.abc import Sequence

import typer
from typer.core import TyperGroup


def setting_flag(app: typer.Typer, argv: Sequence[str], setting: str) -> str:
    """The first long option of the command that `argv` runs whose parameter is `setting` (a
    trailing underscore ignored, as in `slice_`), else `setting` itself; "a/b" maps part by part.

    The command is found by following subcommand names down the groups; the groups take flags
    only, so every word of `argv` before the command that is not an option names a subcommand.
    """
    command = typer.main.get_command(app)
    words = [word for word in argv if not word.startswith("-")]
    while isinstance(command, TyperGroup) and words:
        ctx = command.make_context(command.name, [], resilient_parsing=True)
        _, sub, words = command.resolve_command(ctx, words)
        if sub is None:
            break
        command = sub
    flags: dict[str, str] = {}
    for param in command.params:
        if param.param_type_name == "option" and param.name:
            long = [opt for opt in param.opts if opt.startswith("--")] or param.opts
            flags.setdefault(param.name.rstrip("_"), long[0])
    return "/".join(flags.get(part, part) for part in setting.split("/"))

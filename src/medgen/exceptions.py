"""The one exception type for bad user input: the CLI prints its message as one line, exit 2."""

from __future__ import annotations

from pathlib import Path


class InputError(Exception):
    """Bad input from a user: a file, a folder or an option value, and what is wrong with it."""

    def __init__(self, what: str | Path, problem: str) -> None:
        self.what = str(what)
        self.problem = problem
        super().__init__(f"{self.what}: {problem}")

    def __reduce__(self) -> tuple[type[InputError], tuple[str, str]]:
        # Rebuilt from both fields, so it crosses a process pool (the remedy's detector workers)
        # as itself, not as a broken pool.
        return InputError, (self.what, self.problem)


class SettingError(InputError):
    """A library setting with a bad value, named as the library names it (a config field or a
    keyword argument, e.g. "slice"); the command line shows it under the flag that sets it."""

    def __init__(self, setting: str, problem: str) -> None:
        super().__init__(setting, problem)
        self.setting = setting

    def __reduce__(self) -> tuple[type[SettingError], tuple[str, str]]:
        return SettingError, (self.setting, self.problem)

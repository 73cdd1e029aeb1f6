"""Errors that autocode reports to the researcher as one clear line."""

from __future__ import annotations

from pathlib import Path

import sklearn.exceptions


class AutocodeError(Exception):
    """Base class: the CLI prints ``str(error)`` on one line and exits with code 2."""


class InputError(AutocodeError):
    """Bad input: names the file, the line or element, and what to do.

    >>> str(InputError("no 'text' column", file="a.csv", line=1, hint="add a header row"))
    "a.csv:1: no 'text' column; add a header row"
    """

    def __init__(
        self,
        message: str,
        *,
        file: str | Path | None = None,
        line: int | None = None,
        element: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.message = message
        self.file = str(file) if file is not None else None
        self.line = line
        self.element = element
        self.hint = hint
        super().__init__(self._format())

    def _format(self) -> str:
        where = ""
        if self.file:
            where = self.file
            if self.line is not None:
                where += f":{self.line}"
            where += ": "
        if self.element:
            where += f"{self.element}: "
        text = where + self.message
        if self.hint:
            text += f"; {self.hint}"
        return " ".join(text.split())  # always one line


class UnknownCodeError(InputError):
    """A code name or path that the codebook does not hold."""


class WorkspaceError(AutocodeError):
    """A workspace that is missing, or a model that does not exist in it."""


class NotFittedError(InputError, sklearn.exceptions.NotFittedError):
    """A model used before ``fit``: one line for the CLI, and scikit-learn's
    ``NotFittedError`` for code that catches that."""

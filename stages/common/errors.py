"""The one exception type that stages turn into a one-line message for people."""

from __future__ import annotations

import functools
import sys
from typing import Callable


class UserError(Exception):
    """Bad input: the message names the bad value and what is allowed."""


def main_with_clear_errors(main: Callable[[list[str] | None], object]) -> Callable[[list[str] | None], int]:
    """Wrap a stage's ``main`` so that a UserError prints one line and exits 2."""

    @functools.wraps(main)
    def wrapper(argv: list[str] | None = None) -> int:
        try:
            main(argv)
        except UserError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
        return 0

    return wrapper

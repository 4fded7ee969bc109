"""Expected failures: bad input files and options. The CLI prints them as one line and exits 2."""

from __future__ import annotations


class AfdSolverError(Exception):
    """Errors a user can fix; real bugs are other exceptions and keep their traceback."""

    exit_code = 2


class InputError(AfdSolverError):
    """One or more problems in an input file or option, each naming the file and the field."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


class LimitError(InputError):
    """A request beyond a stated resource limit; the message gives the size it would need."""

    def __init__(self, message: str) -> None:
        super().__init__([message])


class BackendUnavailable(AfdSolverError):
    """A solver backend that is not installed here; the message names the package to install."""

"""The library's error types: one per kind of bad input, each naming the field and the value."""

from __future__ import annotations


class AllocateError(Exception):
    """Base of every error the library raises on purpose."""


class ScenarioError(AllocateError):
    """A scenario that cannot be read or breaks a rule of FORMAT.md §1.

    ``problems`` lists ``(json_path, message)`` pairs so that tools can show every fault at once;
    ``str(error)`` names each path and the offending value.
    """

    def __init__(self, problems: list[tuple[str, str]] | str):
        if isinstance(problems, str):
            problems = [("", problems)]
        self.problems: list[tuple[str, str]] = problems
        lines = [f"{path}: {msg}" if path else msg for path, msg in problems]
        head = "invalid scenario" if len(lines) == 1 else f"invalid scenario ({len(lines)} problems)"
        super().__init__(head + ":\n  " + "\n  ".join(lines))


class PlanError(AllocateError):
    """A plan of the wrong shape (FORMAT.md §2): invalid input, not a plan with violations."""

    def __init__(self, problems: list[tuple[str, str]] | str):
        if isinstance(problems, str):
            problems = [("", problems)]
        self.problems: list[tuple[str, str]] = problems
        lines = [f"{path}: {msg}" if path else msg for path, msg in problems]
        super().__init__("invalid plan:\n  " + "\n  ".join(lines))

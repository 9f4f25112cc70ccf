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


class TableError(AllocateError):
    """A row of an input table (CSV/XLSX, GeoJSON feature) that cannot become a scenario entity.

    Names the file, the row (as a spreadsheet shows it: the header is row 1), the column and the
    value, so an analyst can fix the cell; ``file``, ``row``, ``column`` and ``value`` are kept
    as attributes for tools.
    """

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        row: int | None = None,
        column: str | None = None,
        value: object = None,
    ):
        self.file, self.row, self.column, self.value = file, row, column, value
        where = ", ".join(
            part
            for part in (
                file,
                f"row {row}" if row is not None else None,
                f"column {column}" if column is not None else None,
            )
            if part
        )
        text = f"{where}: {message}" if where else message
        if value is not None:
            text += f" (value {value!r})"
        super().__init__(text)

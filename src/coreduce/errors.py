"""The coreduce error family.

Every error a user can fix subclasses :class:`CoreduceError` (itself a :class:`ValueError`), and its
message names *where* (file, row, column), *what* was found and *what was expected*, so the CLI can
print it as one line without a traceback.
"""

from __future__ import annotations

from typing import Any


class CoreduceError(ValueError):
    """Base class of all user-fixable coreduce errors."""


class InputError(CoreduceError):
    """Bad input data: names file, row, column, the offending value and what was expected.

    Parameters
    ----------
    source : str
        File path (or ``"<DataFrame>"``) the data came from.
    expected : str
        What the value should have been.
    row : int or None
        1-based line number in the file (header is line 1), or ``None`` for file-level problems.
    column : str or None
        Column name, or ``None`` when the problem is not tied to one column.
    value : Any
        The offending value (omitted from the message when ``None``).
    """

    def __init__(
        self,
        source: str,
        expected: str,
        *,
        row: int | None = None,
        column: str | None = None,
        value: Any = None,
        table: str | None = None,
    ) -> None:
        if hasattr(value, "item") and not isinstance(value, str):
            value = value.item()  # numpy scalar -> plain Python for a readable message
        self.source = str(source)
        self.row = row
        self.column = column
        self.value = value
        self.expected = expected
        self.table = table
        where = [self.source]
        if row is not None:
            where.append(f"row {row}")
        if column is not None:
            where.append(f"column '{column}'")
        got = f"got {value!r}, " if value is not None else ""
        super().__init__(f"{', '.join(where)}: {got}expected {expected}")


class UnitError(CoreduceError):
    """A unit string that cannot be parsed or converted."""


class FactorError(CoreduceError):
    """A missing or inconsistent emission factor."""


class StoreError(CoreduceError):
    """A storage problem the user can fix (bad URL, missing table...)."""

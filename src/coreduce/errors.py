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
    table : str or None
        Canonical table the rows were meant for.

    Attributes
    ----------
    located : str
        The message without the file name (``row 3, column 'amount': got -5.0, expected ...``).
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
        if hasattr(value, "isoformat"):
            value = value.isoformat()  # a datetime/Timestamp reads as ISO 8601, not as its Python repr
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
        self.located = f"{', '.join(where[1:]) or '(file)'}: {got}expected {expected}"
        super().__init__(f"{', '.join(where)}: {got}expected {expected}")


class InputErrors(InputError):
    """Several problems in one input, all found in one pass (validation reports every error, not the first).

    The attributes ``source``, ``row``, ``column``, ``value`` and ``expected`` are those of the first error (so
    code that handles one :class:`InputError` keeps working); :attr:`errors` holds up to :attr:`LIMIT` of them in
    input order and :attr:`count` how many were found in all.  The message's first line is a one-line summary
    (the first error and the count); the following lines list every error kept, one per line.

    Parameters
    ----------
    errors : list of InputError
        The problems found, in input order (row, then column); at least one.
    count : int or None
        How many problems there were in all (default ``len(errors)``); more than ``len(errors)`` when the list
        was cut at :attr:`LIMIT`.
    """

    LIMIT = 50

    def __init__(self, errors: list[InputError], count: int | None = None) -> None:
        if not errors:
            raise ValueError("InputErrors needs at least one error")
        self.errors = list(errors[: self.LIMIT])
        self.count = max(int(count if count is not None else len(errors)), len(self.errors))
        first = self.errors[0]
        super().__init__(
            first.source, first.expected, row=first.row, column=first.column, value=first.value, table=first.table
        )
        if self.count == 1:
            return
        shown = "all listed below" if self.count == len(self.errors) else f"the first {len(self.errors)} listed below"
        lines = [f"{first.args[0]}  [{self.count} errors in {first.source}; {shown}]"]
        lines += [f"  {e.located}" for e in self.errors]
        self.args = ("\n".join(lines),)

    def __str__(self) -> str:
        return str(self.args[0])


class UnitError(CoreduceError):
    """A unit string that cannot be parsed or converted."""


class FactorError(CoreduceError):
    """A missing or inconsistent emission factor."""


class StoreError(CoreduceError):
    """A storage problem the user can fix (bad URL, missing table...)."""


class UnknownTableError(StoreError, KeyError):
    """A table name that is not declared (lists the declared ones); also a :class:`KeyError`."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""

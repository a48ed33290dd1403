"""Number formatting for the reader of a report: no ``None``, ``<NA>`` or e-notation in a table.

- :func:`number` — plain positional notation with thousands separators and about ``sig`` significant digits
  (``89,981,806``, ``1,234.5``, ``0.0123``, ``0.00000037``);
- :func:`si` — a quantity with an SI prefix chosen so the mantissa lies in [1, 1000) (``3.7e-7 kWh`` →
  ``370 µWh``; ``0.0021 kg`` → ``2.1 g``), the same rule for every row of a column;
- :func:`duration` — seconds as ``0.42 s`` / ``12.3 s`` / ``2 min 05 s``.

Missing values become :data:`MISSING` (an en dash), never ``None``/``nan``/``<NA>``.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

MISSING = "–"

#: SI prefixes by power of 1000
_PREFIX = {-4: "p", -3: "n", -2: "µ", -1: "m", 0: "", 1: "k", 2: "M", 3: "G", 4: "T"}
#: units the reports show with a prefix, and their base unit in the same dimension: name -> (base, factor)
_BASE = {
    "kWh": ("Wh", 1e3),
    "Wh": ("Wh", 1.0),
    "MWh": ("Wh", 1e6),
    "kg": ("g", 1e3),
    "g": ("g", 1.0),
    "t": ("g", 1e6),
}


def _missing(x: Any) -> bool:
    if x is None:
        return True
    try:
        return bool(pd.isna(x))
    except (TypeError, ValueError):
        return False


def number(x: Any, sig: int = 4) -> str:
    """``x`` in positional notation with about ``sig`` significant digits; :data:`MISSING` for no value.

    Numbers of 1,000 and more keep all their integer digits (``89,981,806``); smaller ones keep ``sig``
    significant digits, with at most 12 decimals (below 5e-13 the value shows as ``0``).

    Examples
    --------
    >>> number(89981806.04), number(1234.567), number(0.012345), number(3.7e-7), number(None)
    ('89,981,806', '1,235', '0.01235', '0.00000037', '–')
    """
    if _missing(x):
        return MISSING
    v = float(x)
    if math.isinf(v):
        return "∞" if v > 0 else "−∞"
    if v == 0:
        return "0"
    mag = math.floor(math.log10(abs(v)))
    decimals = min(max(sig - 1 - mag, 0), 12)
    s = f"{v:,.{decimals}f}"
    if "." in s:
        s = s.rstrip("0").rstrip(".")
    return "0" if s in ("-0", "0") else s


def si(x: Any, unit: str, sig: int = 3) -> str:
    """A quantity with the SI prefix that puts the mantissa in [1, 1000).

    Parameters
    ----------
    x : float
        Value in ``unit``.
    unit : str
        One of ``kWh, Wh, MWh, kg, g, t`` (converted to Wh or g before choosing the prefix).
    sig : int
        Significant digits.

    Examples
    --------
    >>> si(3.7e-7, "kWh"), si(0.0021, "kg"), si(0.0, "kWh"), si(None, "kg")
    ('370 µWh', '2.1 g', '0 Wh', '–')
    """
    base, factor = _BASE[unit]
    if _missing(x):
        return MISSING
    v = float(x) * factor
    if v == 0:
        return f"0 {base}"
    k = max(min(math.floor(math.log10(abs(v)) / 3), 4), -4)
    m = v / 1000.0**k
    if abs(round(m, sig - 1 - math.floor(math.log10(abs(m))))) >= 1000 and k < 4:  # 999.96 -> 1.00 k
        k, m = k + 1, m / 1000.0
    return f"{number(m, sig)} {_PREFIX[k]}{base}"


def duration(seconds: Any) -> str:
    """Seconds as ``0.42 s``, ``12.3 s`` or ``2 min 05 s``; :data:`MISSING` for no value."""
    if _missing(seconds):
        return MISSING
    s = float(seconds)
    if s < 60:
        return f"{number(s, 3)} s"
    m, r = divmod(round(s), 60)
    return f"{m} min {r:02d} s"


__all__ = ["MISSING", "duration", "number", "si"]

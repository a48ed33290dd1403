"""Units: one pint registry for the whole package.

Every conversion in coreduce goes through :func:`conversion_factor` / :func:`convert`; there are no bare
magic numbers for unit changes.  Extra definitions, each with its source:

- ``tce`` (tonne of coal equivalent) = 29.3076 GJ — GB/T 2589-2020 *General principles for calculation
  of the comprehensive energy consumption*, 1 kgce = 29 307.6 kJ.
- ``toe`` (tonne of oil equivalent) = 41.868 GJ — IEA/OECD/Eurostat *Energy Statistics Manual* (2005), p. 183.
- ``head`` — one animal for one year (IPCC 2006 Vol. 4 Ch. 10 livestock factors are kg/head/yr).
- ``Nm3`` — normal cubic metre (0 °C, 101.325 kPa); read as a plain volume (``m^3``).

Safety and ambiguity rules (a unit cell is user input):

- ``ton``, ``tons``, ``kiloton``, ``megaton`` (pint: US short tons), ``mt`` (pint: millitonne) and ``MT`` are
  ambiguous and rejected with the choices (``t`` metric tonne, ``short_ton``, ``long_ton``; ``kt``/``Mt``);
  ``kt`` is always the kilotonne.
- A unit expression is at most :data:`MAX_UNIT_LENGTH` characters; an exponent (``^`` or ``**``) must be a
  plain integer of magnitude at most :data:`MAX_EXPONENT` and cannot be raised again (``10**10**10*t`` fails
  at once instead of making pint compute a number with ten billion digits).
- A unit's scale must be a finite positive number: ``-1*t`` and ``0*t`` are errors.
"""

from __future__ import annotations

import math
import re
from functools import lru_cache

import pint

from coreduce.errors import UnitError

ureg = pint.UnitRegistry(cache_folder=None)
ureg.define("tce = 29.3076 * GJ")
ureg.define("toe = 41.868 * GJ")
ureg.define("head = [livestock]")
ureg.define("MMBtu = 1e6 * Btu")  # million British thermal units (US EPA eGRID / AP-42 convention)

# chemical suffixes users write after a mass unit; the gas is carried in the `pollutant` column
_GAS_SUFFIX = re.compile(r"(?<=[a-zA-Z])(CO2e|CO2eq|CO2)(?![a-zA-Z0-9])")
_ALIASES = {"µ": "u", "μ": "u", "³": "^3", "²": "^2", "·": "*"}
# pint reads "kt" as the knot; in emission accounting it is always the kilotonne
_POWER = re.compile(r"(?<![0-9]e)(?<=[a-zA-Z])([23])(?![0-9])")  # m3 -> m^3, but not 1e3
_KILOTONNE = re.compile(r"(?<![A-Za-z])kt(?![A-Za-z])")

#: Longest unit expression accepted [characters].
MAX_UNIT_LENGTH = 100
#: Largest exponent magnitude accepted in ``x^n`` / ``x**n``.
MAX_EXPONENT = 12
#: Spellings rejected as ambiguous, with the explicit choices offered in the error.
AMBIGUOUS_UNITS: dict[str, str] = {
    **dict.fromkeys(
        ["ton", "tons", "Ton", "Tons", "tonnes_short"],
        "'t' (metric tonne, 1000 kg), 'short_ton' (US, 907.18474 kg) or 'long_ton' (UK, 1016.0469 kg)",
    ),
    **dict.fromkeys(
        ["kiloton", "kilotons", "kton", "ktons"],
        "'kt' (kilotonne, 1e6 kg) or the amount in 't' (metric tonne), 'short_ton' (US) or 'long_ton' (UK)",
    ),
    **dict.fromkeys(["megaton", "megatons", "Mton", "Mtons"], "'Mt' (megatonne, 1e9 kg)"),
    **dict.fromkeys(["mt", "MT"], "'t' (metric tonne), 'Mt' (megatonne) or 'kg'; pint would read 'mt' as a millitonne"),
}
_IDENT = re.compile(r"[A-Za-z_]+")
_EXP_OP = re.compile(r"\*\*|\^")
_EXP_NEXT = re.compile(r"\s*(\*\*|\^)")
_EXP_ARG = re.compile(r"\s*\(?\s*([-+]?\s*[0-9]+)\s*\)?")


def check_unit_expression(unit: str) -> None:
    """Reject a unit string that is ambiguous, too long, or has an unbounded exponent (fast, no parsing).

    Raises
    ------
    UnitError
        Naming the unit and what to write instead.
    """
    s = str(unit)
    if len(s) > MAX_UNIT_LENGTH:
        raise UnitError(f"unit {s[:40]!r}... is {len(s)} characters long; at most {MAX_UNIT_LENGTH} are accepted")
    for tok in _IDENT.findall(s):
        if tok in AMBIGUOUS_UNITS:
            raise UnitError(f"ambiguous unit {tok!r} in {s!r}: write {AMBIGUOUS_UNITS[tok]}")
    pos = 0
    while (m := _EXP_OP.search(s, pos)) is not None:
        arg = _EXP_ARG.match(s, m.end())
        if arg is None:
            raise UnitError(f"unit {s!r}: an exponent must be a plain integer (e.g. m^3)")
        n = int(arg.group(1).replace(" ", ""))
        if abs(n) > MAX_EXPONENT:
            raise UnitError(f"unit {s!r}: exponent {n} out of range (|n| <= {MAX_EXPONENT})")
        if _EXP_NEXT.match(s, arg.end()) is not None:
            raise UnitError(f"unit {s!r}: repeated exponents (a tower such as 10**10**10) are not accepted")
        pos = arg.end()


def normalise_unit(unit: str) -> str:
    """Return a pint-parsable spelling of a unit string.

    ``'µg/m³'`` → ``'ug/m^3'``, ``'tCO2'`` → ``'t'``, ``'m3'`` → ``'m^3'``.
    """
    s = str(unit).strip()
    for a, b in _ALIASES.items():
        s = s.replace(a, b)
    s = _GAS_SUFFIX.sub("", s)
    s = _KILOTONNE.sub("kilotonne", s)
    s = s.replace("Nm3", "m3").replace("Nm^3", "m^3")  # normal m³ are counted as volume
    s = _POWER.sub(r"^\1", s)
    return s


@lru_cache(maxsize=4096)
def quantity(unit: str) -> pint.Quantity:
    """One ``unit`` as a pint Quantity (keeps scale prefixes such as ``'10^4 m^3'``)."""
    if unit is None or str(unit).strip() in ("", "nan", "None"):
        raise UnitError("empty unit")
    check_unit_expression(unit)
    try:
        q = ureg.parse_expression(normalise_unit(unit))
    except Exception as exc:  # pint raises several exception types
        raise UnitError(f"unknown unit {unit!r}") from exc
    if not isinstance(q, pint.Quantity):
        raise UnitError(f"unit {unit!r} is a bare number, not a unit")
    mag = q.magnitude
    if not (isinstance(mag, (int, float)) and math.isfinite(mag) and mag > 0):
        raise UnitError(f"unit {unit!r}: the scale of a unit must be a finite positive number, got {mag!r}")
    return q


@lru_cache(maxsize=4096)
def conversion_factor(from_unit: str, to_unit: str) -> float:
    """Multiplier that converts values in ``from_unit`` to ``to_unit``.

    Raises
    ------
    UnitError
        If either unit is unknown or the dimensions differ (e.g. ``t`` → ``MWh``).
    """
    q_from, q_to = quantity(from_unit), quantity(to_unit)
    try:
        return float((q_from / q_to).to("dimensionless").magnitude)
    except pint.DimensionalityError as exc:
        raise UnitError(
            f"cannot convert {from_unit!r} ({q_from.dimensionality}) to {to_unit!r} ({q_to.dimensionality})"
        ) from exc


def convert(values, from_unit: str, to_unit: str):
    """Convert ``values`` (scalar, array or Series) from ``from_unit`` to ``to_unit``."""
    return values * conversion_factor(from_unit, to_unit)


@lru_cache(maxsize=4096)
def dimension(unit: str) -> str:
    """Dimension class of a unit: 'mass', 'energy', 'volume', 'area', 'livestock', 'mass/volume', ...

    Returns the pint dimensionality string for anything not in the named classes.
    """
    dims = quantity(unit).dimensionality
    named = {
        "mass": ureg.kg.dimensionality,
        "energy": ureg.J.dimensionality,
        "volume": ureg.m.dimensionality**3,
        "area": ureg.m.dimensionality**2,
        "livestock": ureg.head.dimensionality,
        "mass/volume": (ureg.kg / ureg.m**3).dimensionality,
        "temperature": ureg.kelvin.dimensionality,
        "power": ureg.W.dimensionality,
        "dimensionless": ureg.dimensionless.dimensionality,
    }
    for name, d in named.items():
        if dims == d:
            return name
    return str(dims)


@lru_cache(maxsize=4096)
def split_rate(unit: str) -> tuple[str, str]:
    """Split a factor unit ``'kg/TJ'`` into numerator and denominator strings (``'kg'``, ``'TJ'``).

    Raises
    ------
    UnitError
        If the unit is not of the form ``<mass>/<activity>``.
    """
    s = str(unit).strip()
    if "/" not in s:
        raise UnitError(f"factor unit {unit!r} is not of the form <mass>/<activity unit>, e.g. 'kg/t'")
    num, den = s.split("/", 1)
    den = den.strip()
    if den.startswith("(") and den.endswith(")"):
        den = den[1:-1]
    if dimension(num) != "mass":
        raise UnitError(f"factor unit {unit!r}: numerator {num!r} is not a mass unit")
    quantity(den)
    return num.strip(), den

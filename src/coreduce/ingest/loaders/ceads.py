"""CEADs China CO2 inventories 1997–2019: 30 provinces × 47 sectors × 17 fuels + process; cities; national."""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from coreduce.errors import InputError
from coreduce.ingest.loaders._common import reading, require_file, validated
from coreduce.ingest.loaders._paths import SPECS, locate
from coreduce.units import conversion_factor

DATA_DIR = "ceads_china_co2"
PROVINCE_FILE = "ceads_province_sector_fuel_1997_2019.csv.gz"
PROVINCE_TOTALS_FILE = "ceads_province_totals_1997_2019.csv"
NATIONAL_FILE = "ceads_national_by_fuel_1997_2019.csv"
CITY_FILE = "ceads_city_co2_1997_2019.csv"

#: the 17 fuel columns of the CEADs inventories (Scope 1, energy combustion)
FUELS: tuple[str, ...] = (
    "Raw_Coal",
    "Cleaned_Coal",
    "Other_Washed_Coal",
    "Briquettes",
    "Coke",
    "Coke_Oven_Gas",
    "Other_Gas",
    "Other_Coking_Products",
    "Crude_Oil",
    "Gasoline",
    "Kerosene",
    "Diesel_Oil",
    "Fuel_Oil",
    "LPG",
    "Refinery_Gas",
    "Other_Petroleum_Products",
    "Natural_Gas",
)
#: value column -> scope; ``Process`` is cement process CO2 (Scope 1).  ``Other_Energy`` (0 everywhere)
#: and ``Scope_1_Total`` (the sum of the 17 fuels + Process) are not loaded.
SCOPES: dict[str, str] = {
    **dict.fromkeys(FUELS, "1"),
    "Process": "1",
    "Scope_2_Heat": "2",
    "Scope_2_Electricity": "2",
}

METHOD = "reported: CEADs"
CITATION_PROVINCES = (
    "CEADs provincial CO2 inventories 1997-2019 (ceads.net): Shan et al. (2018) Sci. Data 5:170201; "
    "Shan et al. (2020) Sci. Data 7:54; Guan et al. (2021) Earth's Future 9:e2021EF002241"
)
CITATION_NATIONAL = (
    "CEADs national CO2 inventory 1997-2019 (ceads.net): Shan et al. (2018) Sci. Data 5:170201; "
    "Shan et al. (2020) Sci. Data 7:54; Guan et al. (2021) Earth's Future 9:e2021EF002241"
)
CITATION_CITIES = (
    "CEADs city CO2 inventories 1997-2019 (ceads.net): Shan et al. (2022) Science Bulletin 67:1910-1920; "
    "Shan et al. (2019) Sci. Data 6:190027; Shan et al. (2018) Sci. Adv. 4:eaaq0390"
)
_MT_TO_T = conversion_factor("Mt", "t")


def snake(name: str) -> str:
    """``'Raw_Coal'`` -> ``'raw_coal'``, ``'Scope_2_Heat'`` -> ``'scope_2_heat'``, ``'LPG'`` -> ``'lpg'``."""
    return re.sub(r"[^0-9a-z]+", "_", name.strip().lower()).strip("_")


def _in_folder(p: Path, name: str) -> Path:
    """A folder given as ``path`` holds the data set under its publisher or shared file name."""
    if not p.is_dir():
        return p
    spec = SPECS[name]
    for rel in (*(spec.publisher_files if spec.reads_publisher else ()), *spec.shared):
        for cand in (p / rel, p / Path(rel).name):
            if cand.is_file():
                return cand
    raise InputError(str(p), f"a folder holding {spec.publisher} (from {spec.url}) or {Path(spec.shared[0]).name}")


def _read(path: Path, required: Iterable[str], name: str) -> pd.DataFrame:
    spec = SPECS[name]
    expected = f"{Path(spec.shared[0]).name} (the shared copy of {spec.publisher} from {spec.url})"
    require_file(path, expected)
    with reading(path, f"{expected} with columns {', '.join(required)}"):
        df = pd.read_csv(path)
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise InputError(str(path), f"column(s) {', '.join(missing)}", row=1, column=missing[0])
    return df


def _year_periods(years: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Calendar-year periods: 1 January of ``year`` 00:00 UTC (inclusive) to 1 January of the next year."""
    y = years.astype("int64")
    start = pd.to_datetime({"year": y, "month": 1, "day": 1}).dt.tz_localize("UTC")
    end = pd.to_datetime({"year": y + 1, "month": 1, "day": 1}).dt.tz_localize("UTC")
    return start, end


def _melt_fuels(wide: pd.DataFrame, id_cols: list[str]) -> pd.DataFrame:
    """Wide fuel columns (Mt) -> long rows with activity_type, scope and amount (t); zeros dropped."""
    cols = list(SCOPES)
    long = wide.melt(id_vars=id_cols, value_vars=cols, var_name="fuel", value_name="amount_mt")
    long = long[long["amount_mt"].notna() & (long["amount_mt"] != 0)]
    long = long.assign(
        activity_type=long["fuel"].map({c: snake(c) for c in cols}),
        scope=long["fuel"].map(SCOPES),
        amount=long["amount_mt"] * _MT_TO_T,
    )
    return long.drop(columns=["fuel", "amount_mt"])


def _filter(df: pd.DataFrame, column: str, wanted: Iterable | None) -> pd.DataFrame:
    if wanted is None:
        return df
    wanted = [wanted] if isinstance(wanted, (str, int)) else list(wanted)
    return df[df[column].isin(wanted)]


def _co2_inventory(
    years: pd.Series, *, entity, sector, region, activity_type, scope, amount_t, citation: str
) -> pd.DataFrame:
    """CEADs CO2 rows [t] in canonical ``inventory`` columns, one calendar year per row (UTC)."""
    start, end = _year_periods(years)
    return pd.DataFrame(
        {
            "entity": entity, "sector": sector, "region": region, "period_start": start, "period_end": end,
            "activity_type": activity_type, "scope": scope, "pollutant": "CO2", "amount": amount_t,
            "unit": "t", "method": METHOD, "factor_source": citation,
        }
    )  # fmt: skip


#: the publisher's province workbooks, one per year (1997 is spelled in lower case)
PROVINCE_WORKBOOK = re.compile(r"Emission_[Ii]nventories_for_30_[Pp]rovinces_(\d{4})\.xlsx")
#: the first data row of each sheet, the sum of the 47 sectors (label differs by vintage)
_TOTAL_LABELS = {"totalconsumption", "totalemissions", "total"}


def _key(label: object) -> str:
    """Header / label normalised for matching: ``'Raw Coal'``, ``'Raw_Coal'``, ``'CleanedCoal'`` -> ``rawcoal``..."""
    return re.sub(r"[^0-9a-z]", "", str(label).lower())


def _province_workbooks(p: Path) -> dict[int, Path]:
    """Year -> publisher workbook, for a workbook path or a folder holding some (else empty)."""
    if p.is_dir():
        return {int(m.group(1)): f for f in sorted(p.iterdir()) if (m := PROVINCE_WORKBOOK.fullmatch(f.name))}
    m = PROVINCE_WORKBOOK.fullmatch(p.name)
    return {int(m.group(1)): p} if m and p.is_file() else {}


def _read_province_workbooks(
    workbooks: dict[int, Path], years: Iterable[int] | None, provinces: Iterable[str] | None
) -> pd.DataFrame:
    """The publisher's workbooks as the tidy wide frame ``province, year, sector, <22 value columns>`` [Mt].

    Each workbook has a ``NOTE`` sheet and one sheet per province named ``<Province><year>``: row 1 the
    fuel headers (``Raw Coal`` in 1997–2017, ``Raw_Coal`` / ``CleanedCoal`` in 2018–2019), row 2 the unit
    (``Mt CO2``), then the total row (``Total Consumption`` / ``TotalEmissions``) and the 47 sectors
    (labels padded with spaces in 1997–2017, stripped here). Values are kept at full precision.
    """
    import openpyxl

    wanted_years = None if years is None else {int(y) for y in ([years] if isinstance(years, int) else years)}
    wanted_prov = None if provinces is None else set([provinces] if isinstance(provinces, str) else provinces)
    columns = {_key(c): c for c in (*SCOPES, "Other_Energy", "Scope_1_Total")}
    frames = []
    for year, wb_path in sorted(workbooks.items()):
        if wanted_years is not None and year not in wanted_years:
            continue
        spec = SPECS["ceads-provinces"]
        expected = f"a CEADs province workbook {wb_path.name} (from {spec.url}): sheets <Province>{year}"
        require_file(wb_path, expected)
        with reading(wb_path, expected):
            wb = openpyxl.load_workbook(wb_path, read_only=True, data_only=True)
            try:
                for sheet in wb.sheetnames:
                    if not sheet.endswith(str(year)):
                        continue  # NOTE
                    province = sheet[: -len(str(year))]
                    if wanted_prov is not None and province not in wanted_prov:
                        continue
                    rows = list(wb[sheet].iter_rows(values_only=True))
                    header = [columns.get(_key(h)) for h in rows[0]]
                    missing = sorted(set(SCOPES) - set(header))
                    if missing:
                        raise InputError(f"{wb_path}:{sheet}", expected, row=1, column=missing[0])
                    recs = []
                    for r in rows[2:]:
                        if r[0] is None or not str(r[0]).strip():
                            continue
                        label = str(r[0]).strip()
                        rec = {"province": province, "year": year,
                               "sector": "Total" if _key(label) in _TOTAL_LABELS else label}  # fmt: skip
                        rec.update({h: (0.0 if v is None else float(v)) for h, v in zip(header, r, strict=False) if h})
                        recs.append(rec)
                    frames.append(pd.DataFrame(recs))
            finally:
                wb.close()
    if not frames:
        first = next(iter(workbooks.values()))
        raise InputError(str(first), "a province sheet for the years and provinces asked for")
    return pd.concat(frames, ignore_index=True)


def read_ceads_provinces(
    path: str | Path | None = None,
    years: Iterable[int] | None = None,
    provinces: Iterable[str] | None = None,
    include_total_rows: bool = False,
) -> pd.DataFrame:
    """Read the CEADs provincial inventories (province × sector × fuel, 1997–2019) as ``inventory`` rows.

    Parameters
    ----------
    path : str or Path, optional
        The publisher's workbooks ``Emission_Inventories_for_30_Provinces_<year>.xlsx`` (1997: lower-case
        ``Emission_inventories_for_30_provinces_1997.xlsx``) from
        https://ceads.net/data/province/by_sectoral_accounting/Provincial/ (account required): one workbook,
        or a folder holding some or all 23 (read at full precision; headers of both vintages, ``Raw Coal``
        and ``Raw_Coal``, are recognised). Or the project's tidy copy
        ``ceads_province_sector_fuel_1997_2019.csv[.gz]`` of the 690 sheets, whose values are **rounded to
        1e-6 Mt** (1 t; equal to the workbooks within 5e-7 Mt per cell). Default: found by
        :func:`coreduce.ingest.loaders.locate` (workbooks in the data folder first, else the tidy copy).
    years : iterable of int, optional
        Years to keep (1997–2019). Default: all.
    provinces : iterable of str, optional
        Provinces to keep, English names as in the file (``Beijing``, ``InnerMongolia``, ...).
        Default: all 30.
    include_total_rows : bool
        Keep the ``Total`` sector rows (the sum of the 47 sectors). Default ``False``: they would double
        count when summed.

    Returns
    -------
    pandas.DataFrame
        Canonical ``inventory``: ``entity`` and ``region`` = province, ``sector`` = CEADs sector label
        (47 sectors, e.g. ``Production and Supply of Electric Power, Steam and Hot Water``, ``Urban``,
        ``Rural``), ``period_start`` = 1 January of the year 00:00 UTC, ``period_end`` = 1 January of the
        next year, ``activity_type`` = the fuel column in snake case (``raw_coal``, ..., ``natural_gas``),
        ``process`` (cement process CO2), ``scope_2_heat`` and ``scope_2_electricity``; ``scope`` ``1`` for
        the 17 fuels and ``process``, ``2`` for the two purchased-energy columns; ``pollutant`` ``CO2``;
        ``amount`` in t (the workbooks give Mt CO2; converted with pint); ``method`` ``reported: CEADs``;
        ``factor_source`` the CEADs citation. Zero cells, the all-zero ``Other_Energy`` column and the
        ``Scope_1_Total`` column are not loaded. In this copy both ``Scope_2_*`` columns are 0
        everywhere, so in practice every row is scope 1, and the sector "Logging and Transport of Wood
        and Bamboo" is 0 everywhere, so 46 sectors appear. All of the file: 199,535 rows.

    Notes
    -----
    Summing the scope-1 rows of one province-year gives the workbook's ``Scope_1_Total``
    (see :func:`read_ceads_province_totals`) up to the rounding of the cells: the tidy copy gives every
    cell to 1e-6 Mt (1 t), so a sum over ~200 cells can drift by a few 1e-6 Mt (read from the workbooks,
    the sums agree to ~1e-13 Mt). Over all
    690 province-years the largest difference is 1.8e-5 Mt (18 t); Beijing 2019: 89.184471 Mt summed
    vs 89.184484 Mt published (13 t, 1.5e-7 relative).

    References
    ----------
    Shan, Y. et al. (2018). China CO2 emission accounts 1997–2015. Sci. Data 5:170201. Shan, Y. et al.
    (2020). China CO2 emission accounts 2016–2017. Sci. Data 7:54. Guan, D. et al. (2021). Assessment to
    China's recent emission pattern shifts. Earth's Future 9:e2021EF002241. Data: CEADs, ceads.net;
    "freely available to the public and the scientific community", to be cited (no formal open licence).
    """
    p = Path(path) if path is not None else locate("ceads-provinces")
    workbooks = _province_workbooks(p)
    if workbooks:
        wide = _read_province_workbooks(workbooks, years, provinces)
    else:
        p = _in_folder(p, "ceads-provinces")
        wide = _read(p, ["province", "year", "sector", *SCOPES], "ceads-provinces")
    wide = _filter(_filter(wide, "year", years), "province", provinces)
    if not include_total_rows:
        wide = wide[wide["sector"] != "Total"]
    long = _melt_fuels(wide, ["province", "year", "sector"])
    inv = _co2_inventory(
        long["year"], entity=long["province"], sector=long["sector"], region=long["province"],
        activity_type=long["activity_type"], scope=long["scope"], amount_t=long["amount"],
        citation=CITATION_PROVINCES,
    )  # fmt: skip
    inv = inv.sort_values(["entity", "period_start", "sector", "activity_type"], kind="stable")
    return validated(inv, "inventory", p)


def read_ceads_province_totals(path: str | Path | None = None) -> pd.DataFrame:
    """Scope-1 totals per province and year from CEADs, for reconciliation (not a canonical table).

    Parameters
    ----------
    path : str or Path, optional
        The publisher's workbooks (one or a folder, see :func:`read_ceads_provinces`; their ``Total`` rows
        are read) or ``ceads_province_totals_1997_2019.csv`` (the project's copy of those rows). Default:
        the located workbooks, else the totals file beside the located tidy copy.

    Returns
    -------
    pandas.DataFrame
        Columns ``province`` (string), ``year`` (int64), ``scope_1_total_t`` (float, t CO2: the workbook's
        ``Scope_1_Total`` in Mt, converted with pint), sorted by province and year; 690 rows
        (30 provinces × 23 years).

    References
    ----------
    Shan, Y. et al. (2018). Sci. Data 5:170201; Shan, Y. et al. (2020). Sci. Data 7:54; Guan, D. et al.
    (2021). Earth's Future 9:e2021EF002241. Data: CEADs, ceads.net (free with citation).
    """
    p = Path(path) if path is not None else locate("ceads-provinces")
    workbooks = _province_workbooks(p)
    if workbooks:
        wide = _read_province_workbooks(workbooks, None, None)
        df = wide.loc[wide["sector"] == "Total", ["province", "year", "Scope_1_Total"]]
    else:
        if p.name.startswith("ceads_province_sector_fuel"):  # located tidy copy: the totals file beside it
            p = p.parent / PROVINCE_TOTALS_FILE
        df = _read(_in_folder(p, "ceads-provinces"), ["province", "year", "Scope_1_Total"], "ceads-provinces")
    out = pd.DataFrame(
        {
            "province": df["province"].astype("string"),
            "year": df["year"].astype("int64"),
            "scope_1_total_t": df["Scope_1_Total"].astype("float64") * _MT_TO_T,
        }
    )
    if out.duplicated(["province", "year"]).any():
        pos = int(np.flatnonzero(out.duplicated(["province", "year"]).to_numpy())[0])
        raise InputError(
            str(p),
            "one row per province and year",
            row=pos + 2,
            column="province",
            value=f"{out['province'].iloc[pos]} {out['year'].iloc[pos]}",
        )
    return out.sort_values(["province", "year"], ignore_index=True)


def _read_national_workbook(p: Path) -> pd.DataFrame:
    """Sheet ``sum`` of the publisher's national workbook: ``year`` + the fuel columns [Mt], one row per year."""
    import openpyxl

    spec = SPECS["ceads-national"]
    expected = f"{spec.publisher} (from {spec.url}) with sheet 'sum': year, Raw Coal, ..., Scope 1 Total"
    require_file(p, expected)
    columns = {_key(c): c for c in (*SCOPES, "Other_Energy", "Scope_1_Total")}
    with reading(p, expected):
        wb = openpyxl.load_workbook(p, read_only=True, data_only=True)
        try:
            rows = list(wb["sum"].iter_rows(values_only=True))
        finally:
            wb.close()
    header = [columns.get(_key(h)) if h is not None else None for h in rows[0]]
    missing = sorted(set(SCOPES) - set(header))
    if missing:
        raise InputError(f"{p}:sum", expected, row=1, column=missing[0])
    recs = []
    for r in rows[1:]:
        if not isinstance(r[0], (int, float)):
            continue  # blank rows below the table
        rec = {"year": int(r[0])}
        rec.update({h: (0.0 if v is None else float(v)) for h, v in zip(header, r, strict=False) if h})
        recs.append(rec)
    return pd.DataFrame(recs)


def read_ceads_national(path: str | Path | None = None, years: Iterable[int] | None = None) -> pd.DataFrame:
    """Read the CEADs national inventory by fuel (sheet ``sum``, 1997–2019) as ``inventory`` rows.

    Parameters
    ----------
    path : str or Path, optional
        The publisher's ``China_CO2_Inventory_1997-2019_(IPCC_Sectoral_Emissions).xlsx`` from
        https://ceads.net/data/nation/ (sheet ``sum``), or the project's CSV copy of that sheet
        ``ceads_national_by_fuel_1997_2019.csv`` (same values, full precision), or a folder holding either.
        Default: found by :func:`coreduce.ingest.loaders.locate`.
    years : iterable of int, optional
        Years to keep. Default: all 23.

    Returns
    -------
    pandas.DataFrame
        Canonical ``inventory`` with ``entity`` and ``region`` ``China``, ``sector`` ``total``, one row per
        year and fuel column (same ``activity_type`` / ``scope`` coding as :func:`read_ceads_provinces`),
        ``amount`` in t CO2. Zero cells are dropped. The national energy balance is not the sum of the
        provincial ones (ratio 0.90–1.01 by year), so national ≠ Σ provinces. 407 rows; scope-1 total
        2019: 9794.756 Mt.

    References
    ----------
    Shan, Y. et al. (2018). Sci. Data 5:170201; Shan, Y. et al. (2020). Sci. Data 7:54; Guan, D. et al.
    (2021). Earth's Future 9:e2021EF002241. Data: CEADs, ceads.net (free with citation).
    """
    p = _in_folder(Path(path), "ceads-national") if path is not None else locate("ceads-national")
    if p.suffix.lower() == ".xlsx":
        wide = _filter(_read_national_workbook(p), "year", years)
    else:
        wide = _filter(_read(p, ["year", *SCOPES], "ceads-national"), "year", years)
    long = _melt_fuels(wide, ["year"])
    inv = _co2_inventory(
        long["year"], entity="China", sector="total", region="China", activity_type=long["activity_type"],
        scope=long["scope"], amount_t=long["amount"], citation=CITATION_NATIONAL,
    )  # fmt: skip
    return validated(inv.sort_values(["period_start", "activity_type"], kind="stable"), "inventory", p)


CITY_COLUMNS = ["province_cn", "city_full_cn", "year", "co2_mt"]
#: provinces whose Chinese short name has three characters (all others have two)
_THREE_CHAR_PROVINCES = ("内蒙古", "黑龙江")


def _read_city_workbook(p: Path) -> pd.DataFrame:
    """The publisher's city workbook, sheet ``emission vector`` (``ID, city, year, emission`` [Mt])."""
    spec = SPECS["ceads-cities"]
    expected = f"{spec.expected} (from {spec.url}) with sheet 'emission vector': ID, city, year, emission"
    require_file(p, expected)
    with reading(p, expected):
        raw = pd.read_excel(p, sheet_name="emission vector")
    missing = [c for c in ("city", "year", "emission") if c not in raw.columns]
    if missing:
        raise InputError(str(p), expected, row=1, column=missing[0])
    city = raw["city"].astype(str).str.strip()
    three = city.str[:3].isin(_THREE_CHAR_PROVINCES)
    return pd.DataFrame(
        {
            "province_cn": city.str[:3].where(three, city.str[:2]),
            "city_full_cn": city,
            "year": raw["year"],
            "co2_mt": raw["emission"],
        }
    )


def read_ceads_cities(path: str | Path | None = None) -> pd.DataFrame:
    """Read the CEADs city CO2 totals (290 cities, 1997–2019, unbalanced) as ``inventory`` rows.

    Parameters
    ----------
    path : str or Path, optional
        The publisher's workbook ``The_Emission_Inventories_for_290_Chinese_Cities_from_1997_to_2019.xlsx``
        from https://ceads.net/data/city/ (sheet ``emission vector``: ``ID, city, year, emission`` [Mt]; the
        province is the city name's 2-character prefix, 3 for 内蒙古 and 黑龙江), or the project's CSV copy of
        that sheet ``ceads_city_co2_1997_2019.csv`` (same values), or a folder holding either. Default: found
        by :func:`coreduce.ingest.loaders.locate`.

    Returns
    -------
    pandas.DataFrame
        Canonical ``inventory``: ``entity`` = ``city_full_cn`` (Chinese: province prefix + city, e.g.
        ``贵州贵阳``; the four municipalities are ``北京``, ``天津``, ``上海``, ``重庆``), ``region`` =
        ``province_cn``, ``sector`` and ``activity_type`` ``total``, calendar-year periods in UTC,
        ``pollutant`` ``CO2``, ``amount`` in t (file: Mt), ``method`` ``reported: CEADs``. 3,929 rows.
        Coverage is unbalanced (7 cities in 1997, ~260 in 2010–2013, 170 in 2019) and includes one stray
        1995 row (贵州贵阳), kept as published. No English names or administrative codes are in the source.

    References
    ----------
    Shan, Y. et al. (2022). Science Bulletin 67:1910–1920; Shan, Y. et al. (2019). Sci. Data 6:190027;
    Shan, Y. et al. (2018). Sci. Adv. 4:eaaq0390; Shan, Y. et al. (2017). J. Clean. Prod. 161:1215–1225.
    Data: CEADs, ceads.net (free with citation).
    """
    p = _in_folder(Path(path), "ceads-cities") if path is not None else locate("ceads-cities")
    df = _read_city_workbook(p) if p.suffix.lower() == ".xlsx" else _read(p, CITY_COLUMNS, "ceads-cities")
    inv = _co2_inventory(
        df["year"], entity=df["city_full_cn"], sector="total", region=df["province_cn"], activity_type="total",
        scope="1", amount_t=df["co2_mt"] * _MT_TO_T, citation=CITATION_CITIES,
    )  # fmt: skip
    return validated(inv, "inventory", p)

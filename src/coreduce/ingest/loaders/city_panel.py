"""China prefecture-level city panel (≈295 cities, 2000–2023): GDP, population, structure, CO2, FDI."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from coreduce.errors import InputError
from coreduce.ingest.loaders._common import reading, require_file
from coreduce.ingest.loaders._paths import SPECS, locate

DATA_NAME = "china_city_panel_2000_2023.csv.gz"

#: column -> (unit, meaning) of the merged panel (PROVENANCE.md of ``china_city_panel``)
COLUMNS: dict[str, tuple[str, str]] = {
    "city_code": ("-", "6-digit administrative division code of the city (key with year)"),
    "province_cn": ("-", "province name (Chinese)"),
    "city_cn": ("-", "city name (Chinese)"),
    "city_type": ("-", "直辖市 / 副省级市 / 地级市 (Chinese)"),
    "city_type_en": ("-", "added here: municipality / sub-provincial city / prefecture-level city"),
    "year": ("-", "calendar year (int)"),
    "gdp_100m_yuan": ("1e8 CNY", "GDP at current prices, industrial-structure workbook"),
    "gdp_nominal_100m_yuan": ("1e8 CNY", "GDP at current prices, GDP workbook (another vintage)"),
    "gdp_real_2000prices_100m_yuan": ("1e8 CNY (2000 prices)", "real GDP chained from the GDP index"),
    "gdp_deflator_2000_eq_1": ("-", "GDP deflator, 2000 = 1"),
    "va_primary_100m_yuan": ("1e8 CNY", "value added, primary sector"),
    "va_secondary_100m_yuan": ("1e8 CNY", "value added, secondary sector"),
    "va_tertiary_100m_yuan": ("1e8 CNY", "value added, tertiary sector"),
    "share_secondary": ("fraction", "secondary-sector share of GDP"),
    "share_tertiary": ("fraction", "tertiary-sector share of GDP"),
    "land_area_km2": ("km^2", "administrative land area"),
    "resident_pop_10k": ("1e4 persons", "resident population (gaps interpolated by the compiler)"),
    "pop_density_per_km2": ("persons/km^2", "resident population / land area"),
    "co2_edgar_t": ("t CO2/yr", "EDGAR v8.0 gridded CO2 aggregated to city boundaries (compiler)"),
    "co2_ceads_mt": ("Mt CO2/yr", "CEADs city CO2 (see read_ceads_cities); 52.6 % non-null"),
    "fdi_musd": ("1e6 USD", "actually utilised foreign direct investment"),
    "low_carbon_pilot_year": (
        "-",
        "year the city entered the low-carbon pilot (2010/2013/2017), <NA> = never",
    ),
}
CITY_TYPES_EN: dict[str, str] = {
    "直辖市": "municipality",
    "副省级市": "sub-provincial city",
    "地级市": "prefecture-level city",
}


def read_city_panel(path: str | Path | None = None) -> pd.DataFrame:
    """Read the merged China city panel as a tidy city-year frame (not a canonical table).

    Parameters
    ----------
    path : str or Path, optional
        ``china_city_panel_2000_2023.csv[.gz]``, the coreduce project's merged panel (or a folder holding
        it). There is no publisher file to read instead: the panel is merged from seven workbooks of the
        public repository https://github.com/biechouwo-coder/G-P (folder 原始数据/) plus CEADs city CO2.
        Default: found by :func:`coreduce.ingest.loaders.locate`.

    Returns
    -------
    pandas.DataFrame
        One row per city and year, keyed by (``city_code``, ``year``), 7,017 rows, 295 cities,
        2000–2023 (284–295 cities a year). All original columns (see :data:`COLUMNS` for units:
        GDP and value added in 10⁸ CNY, population in 10⁴ persons, land in km², ``co2_edgar_t`` in t,
        ``co2_ceads_mt`` in Mt, FDI in 10⁶ USD) plus ``city_type_en`` (English for ``city_type``).
        ``year`` is int64, ``low_carbon_pilot_year`` nullable Int64. Beijing 2019: gdp_100m_yuan 35371.28.

    Raises
    ------
    InputError
        If a column is missing, a year is not an integer or a (city_code, year) pair repeats.

    Notes
    -----
    Caveats (PROVENANCE.md) — **provenance quality is lower than for the other data sets**:

    - The socioeconomic tables are statistics compiled from the *China City Statistical Yearbook*,
      provincial yearbooks and statistical bulletins, but reached GitHub through a commercial compiler
      (Taobao shop 行行文库) and a student's thesis repository without a licence. Use them for tests,
      demos and method development; check against the yearbooks before presenting results.
    - The two GDP series (``gdp_100m_yuan``, ``gdp_nominal_100m_yuan``) are different vintages (pre/post
      economic-census revisions): they agree within 1 % for only 51 % of city-years (ratio 0.14–4.1),
      and a few values are clearly erroneous.
    - ``co2_ceads_mt`` is only 52.6 % non-null (CEADs city coverage is unbalanced; 30 CEADs units such
      as autonomous prefectures are not in the city list); ``fdi_musd`` 86 % non-null. EDGAR-based and
      CEADs city CO2 correlate at r = 0.83 over 3,692 city-years.
    - GDP, CEADs CO2, FDI and the pilot list were joined by normalised Chinese names within province.
    - ``low_carbon_pilot_year`` is coded by the thesis author: the 2nd batch (announced Nov 2012) is
      coded 2013; cities inside pilot provinces are listed individually.

    References
    ----------
    Public GitHub repository ``biechouwo-coder/G-P`` (thesis on low-carbon-city pilots, folder 原始数据/,
    snapshot 2025-01), no licence. Original sources as stated in the workbooks: 中国城市统计年鉴 (China
    City Statistical Yearbook), provincial statistical yearbooks, 国民经济和社会发展统计公报; EDGAR v8.0
    (https://edgar.jrc.ec.europa.eu/dataset_ghg80); CEADs city inventories (Shan et al. 2022, Science
    Bulletin 67:1910–1920).
    """
    p = Path(path) if path is not None else locate("city-panel")
    if p.is_dir() and (p / DATA_NAME).is_file():
        p = p / DATA_NAME
    expected = f"{DATA_NAME} (the coreduce project's merged panel of {SPECS['city-panel'].url})"
    require_file(p, expected)
    with reading(p, expected):
        df = pd.read_csv(p)
    missing = [c for c in COLUMNS if c != "city_type_en" and c not in df.columns]
    if missing:
        raise InputError(str(p), f"column(s) {', '.join(missing)}", row=1, column=missing[0])
    year = pd.to_numeric(df["year"], errors="coerce")
    bad = np.flatnonzero((year.isna() | (year != year.round())).to_numpy())
    if bad.size:
        raise InputError(str(p), "an integer year", row=int(bad[0]) + 2, column="year", value=df["year"].iloc[bad[0]])
    df["year"] = year.astype("int64")
    dup = df.duplicated(["city_code", "year"])
    if dup.any():
        pos = int(np.flatnonzero(dup.to_numpy())[0])
        raise InputError(
            str(p),
            "one row per (city_code, year)",
            row=pos + 2,
            column="city_code",
            value=f"{df['city_code'].iloc[pos]} {df['year'].iloc[pos]}",
        )
    for col in ("province_cn", "city_cn", "city_type"):
        df[col] = df[col].astype("string")
    df["low_carbon_pilot_year"] = df["low_carbon_pilot_year"].astype("Int64")
    df.insert(
        df.columns.get_loc("city_type") + 1,
        "city_type_en",
        df["city_type"].map(CITY_TYPES_EN).astype("string"),
    )
    return df.sort_values(["city_code", "year"], ignore_index=True)

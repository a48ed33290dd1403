"""Where the real data sets are looked for — only where the user or the package says, never searched for.

A data set is read from, in this order and nowhere else:

1. the path given to the loader (``path=``; ``coreduce load NAME --path FILE``);
2. the folder named by the environment variable ``COREDUCE_DATA`` (``COREDUCE_SHARED_DATA``, its former
   name, is still honoured) — when it is set, it is the *only* folder looked in;
3. otherwise the package's own configured locations:

   - the user data folder ``$XDG_DATA_HOME/coreduce/data`` (default ``~/.local/share/coreduce/data``;
     on Windows ``%LOCALAPPDATA%\\coreduce\\data``) — where to put downloaded publisher files;
   - in a source checkout only (``<repo>/pyproject.toml`` beside ``<repo>/src/coreduce``), the project's
     shared data folder ``<repo>/../shared/data``.

The current working directory and its parents are never searched: a ``shared/data`` folder planted in
the directory a user happens to run ``coreduce`` from is ignored (issue 12, security item 5).

Inside a folder, each data set is found under the publisher's own file name (e.g. the UCI zip) or under
the name of the project's cleaned copy; :data:`SPECS` lists both, with the publisher URL.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from coreduce.errors import CoreduceError

ENV_VAR = "COREDUCE_DATA"
LEGACY_ENV_VAR = "COREDUCE_SHARED_DATA"


class DataSetNotFound(CoreduceError):
    """A data set's files are not where the user or the package said; the message says what to download."""


@dataclass(frozen=True)
class DataSetSpec:
    """Where a data set comes from and under which names it is recognised.

    Attributes
    ----------
    name : str
        Data-set name (``coreduce load NAME``).
    description : str
        One line.
    url : str
        The publisher's download page.
    publisher_files : tuple of str
        The publisher's own file names, as downloaded (first = the one to ask for), relative to a data folder.
    shared : tuple of str
        Names of the project's cleaned copy (``shared/data`` layout), relative to a data folder.
    formats : str
        What the loader reads, in words.
    reads_publisher : bool
        Whether the loader reads the publisher's files (False: only the project's cleaned copy; the
        publisher names are then only shown to say where the copy comes from).
    """

    name: str
    description: str
    url: str
    publisher_files: tuple[str, ...]
    shared: tuple[str, ...]
    formats: str
    reads_publisher: bool = True

    @property
    def publisher(self) -> str:
        """The publisher's own file name (``<year>`` standing for a year where there is one file per year)."""
        return self.publisher_files[0].replace("*", "<year>")

    @property
    def expected(self) -> str:
        """The file name the loader needs: the publisher's where it reads it, else the cleaned copy's."""
        return self.publisher if self.reads_publisher else Path(self.shared[0]).name


UCI_AQ_URL = "https://archive.ics.uci.edu/dataset/501/beijing+multi+site+air+quality+data"
UCI_PM25_URL = "https://archive.ics.uci.edu/dataset/381/beijing+pm2+5+data"
UCI_GT_URL = "https://archive.ics.uci.edu/dataset/551/gas+turbine+co+and+nox+emission+data+set"
CEADS_PROVINCE_URL = "https://ceads.net/data/province/by_sectoral_accounting/Provincial/"
CEADS_CITY_URL = "https://ceads.net/data/city/"
CEADS_NATION_URL = "https://ceads.net/data/nation/"
CUI_URL = "https://zenodo.org/record/4730175"
OWID_URL = "https://github.com/owid/co2-data (file: https://nyc3.digitaloceanspaces.com/owid-public/data/co2/owid-co2-data.csv)"
EGRID_URL = "https://github.com/USEPA/egrid (folder data/static_tables)"
CITY_PANEL_URL = "https://github.com/biechouwo-coder/G-P (folder 原始数据/; merged by the coreduce project)"

SPECS: dict[str, DataSetSpec] = {
    s.name: s
    for s in (
        DataSetSpec(
            "beijing-aq",
            "UCI Beijing multi-site air quality, 12 stations, hourly 2013-2017",
            UCI_AQ_URL,
            (
                "beijing+multi+site+air+quality+data.zip",
                "PRSA2017_Data_20130301-20170228.zip",
                "PRSA_Data_20130301-20170228",
            ),
            ("beijing_multisite_air_quality",),
            "the UCI zip (outer or inner), the unzipped folder of the 12 PRSA_Data_<Station>_20130301-20170228.csv "
            "files, one such file, or the same files gzip-compressed (.csv.gz, the shared copy)",
        ),
        DataSetSpec(
            "beijing-pm25",
            "UCI Beijing PM2.5 (US Embassy), hourly 2010-2014",
            UCI_PM25_URL,
            ("beijing+pm2+5+data.zip", "PRSA_data_2010.1.1-2014.12.31.csv"),
            ("beijing_pm25_2010_2014/PRSA_data_2010.1.1-2014.12.31.csv.gz",),
            "the UCI zip, PRSA_data_2010.1.1-2014.12.31.csv, or its .csv.gz (the shared copy)",
        ),
        DataSetSpec(
            "gas-turbine",
            "UCI gas-turbine stack CO/NOx (CEMS-like, one turbine in Turkey), 2011-2015",
            UCI_GT_URL,
            ("gas+turbine+co+and+nox+emission+data+set.zip", "pp_gas_emission"),
            ("gas_turbine_co_nox/gas_turbine_co_nox_2011_2015.csv.gz",),
            "the UCI zip, the unzipped folder of gt_2011.csv .. gt_2015.csv (or one of them), or the shared copy "
            "(the five files stacked with year and row_in_year columns)",
        ),
        DataSetSpec(
            "ceads-provinces",
            "CEADs CO2, 30 provinces x 47 sectors x fuels, 1997-2019",
            CEADS_PROVINCE_URL,
            ("Emission_Inventories_for_30_Provinces_*.xlsx", "Emission_inventories_for_30_provinces_*.xlsx"),
            ("ceads_china_co2/ceads_province_sector_fuel_1997_2019.csv.gz",),
            "the publisher's workbooks Emission_Inventories_for_30_Provinces_<year>.xlsx (one, or a folder of "
            "them; full precision) or the shared tidy copy of their 690 sheets (rounded to 1e-6 Mt)",
        ),
        DataSetSpec(
            "ceads-cities",
            "CEADs CO2 totals of 290 cities, 1997-2019",
            CEADS_CITY_URL,
            ("The_Emission_Inventories_for_290_Chinese_Cities_from_1997_to_2019.xlsx",),
            ("ceads_china_co2/ceads_city_co2_1997_2019.csv",),
            "the publisher's workbook (sheet 'emission vector') or the shared CSV copy of that sheet",
        ),
        DataSetSpec(
            "ceads-national",
            "CEADs national CO2 by fuel, 1997-2019",
            CEADS_NATION_URL,
            ("China_CO2_Inventory_1997-2019_(IPCC_Sectoral_Emissions).xlsx",),
            ("ceads_china_co2/ceads_national_by_fuel_1997_2019.csv",),
            "the publisher's workbook (sheet 'sum') or the shared CSV copy of that sheet",
        ),
        DataSetSpec(
            "cui2021",
            "Cui et al. 2021 daily provincial CO2 by sector, 2019-2020",
            CUI_URL,
            ("Dataset_Daily_CO2_31Provincial_MonPow_MonInd_YearVeh_2019_2020_week_holiday.xlsx",),
            ("cui2021_china_daily_provincial_co2/china_daily_provincial_co2_2019_2020.csv.gz",),
            "the Zenodo workbook (full precision, Ground Transport 2020 re-dated from its weekday column) or the "
            "shared tidy copy (same repair, rounded to 1e-6 Mt/day)",
        ),
        DataSetSpec(
            "owid",
            "Our World in Data CO2 by country-year",
            OWID_URL,
            ("owid-co2-data.csv",),
            ("owid_co2/owid-co2-data.parquet", "owid_co2/owid-co2-data.csv.gz"),
            "the publisher's owid-co2-data.csv (also .csv.gz) or the Parquet copy (same rows and columns)",
        ),
        DataSetSpec(
            "egrid",
            "EPA eGRID emission factors",
            EGRID_URL,
            ("static_tables",),
            ("epa_egrid_emission_factors",),
            "a folder holding the publisher's co2_ch4_n2o_ef.csv, emission_factors_heatinput.csv and "
            "geothermal_emission_factors.csv, unchanged",
        ),
        DataSetSpec(
            "city-panel",
            "China city panel (GDP, population, structure, CO2), 2000-2023",
            CITY_PANEL_URL,
            ("china_city_panel_2000_2023.csv.gz",),
            ("china_city_panel/china_city_panel_2000_2023.csv.gz",),
            "only the project's merged panel: it has no single publisher file (compiled from seven workbooks)",
            False,
        ),
    )
}


def _user_data_dir() -> Path:
    """The per-user data folder (XDG on Linux/macOS, %LOCALAPPDATA% on Windows)."""
    if sys.platform == "win32":  # pragma: no cover - not the CI platform
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
        return base / "coreduce" / "data"
    base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return base / "coreduce" / "data"


def _checkout_shared_data() -> Path | None:
    """``<repo>/../shared/data`` when this package runs from a source checkout (src layout), else None.

    A checkout is recognised by ``<repo>/pyproject.toml`` next to ``<repo>/src/coreduce`` (this file is
    ``<repo>/src/coreduce/ingest/loaders/_paths.py``); an installed package has neither.
    """
    pkg = Path(__file__).resolve().parents[2]
    repo = pkg.parents[1]
    if pkg.parent.name != "src" or not (repo / "pyproject.toml").is_file():
        return None
    return repo.parent / "shared" / "data"


def data_dirs() -> list[Path]:
    """The folders data sets are looked for in, in order (existing or not).

    Returns
    -------
    list of pathlib.Path
        ``[$COREDUCE_DATA]`` when it is set (or the legacy ``$COREDUCE_SHARED_DATA``); otherwise the user
        data folder and, in a source checkout, ``<repo>/../shared/data``. Never the working directory.

    Raises
    ------
    CoreduceError
        If the environment variable names something that is not a directory.
    """
    for var in (ENV_VAR, LEGACY_ENV_VAR):
        env = os.environ.get(var)
        if env:
            p = Path(env).expanduser()
            if not p.is_dir():
                raise CoreduceError(f"{var}={env} is not a directory; point it at the folder holding the data sets")
            return [p]
    dirs = [_user_data_dir()]
    checkout = _checkout_shared_data()
    if checkout is not None:
        dirs.append(checkout)
    return dirs


def shared_data_dir() -> Path:
    """The first existing data folder of :func:`data_dirs`.

    Raises
    ------
    CoreduceError
        If none exists.
    """
    dirs = data_dirs()
    for d in dirs:
        if d.is_dir():
            return d
    raise CoreduceError(
        f"no data folder found (looked in {', '.join(map(str, dirs))}); set {ENV_VAR} to the folder holding "
        "the data sets or pass the file with --path"
    )


def find(name: str) -> Path | None:
    """The path of data set ``name`` in the configured folders (publisher names first), or None."""
    spec = SPECS[name]
    for d in data_dirs():
        for rel in (*(spec.publisher_files if spec.reads_publisher else ()), *spec.shared):
            if "*" in rel:  # a set of publisher files (one per year): the folder holding them
                if d.is_dir() and any(d.glob(rel)):
                    return d
                continue
            p = d / rel
            if p.exists():
                return p
    return None


def locate(name: str) -> Path:
    """Like :func:`find`, but a missing data set is an error that says what to download and from where.

    Raises
    ------
    DataSetNotFound
        Naming the publisher URL, the original file name and the folders looked in.
    """
    p = find(name)
    if p is not None:
        return p
    spec = SPECS[name]
    what = (
        f"download {spec.expected} from {spec.url}"
        if spec.reads_publisher
        else f"{spec.expected} (the coreduce project's cleaned copy of {spec.publisher} from {spec.url}) is needed"
    )
    raise DataSetNotFound(
        f"data set {name!r} not found: {what}; pass the file with --path (or path=), or put it in "
        f"${ENV_VAR}; looked in {', '.join(map(str, data_dirs()))}"
    )


def not_found_hint(name: str) -> str:
    """``'<file> from <url>'`` for a data set (used in loader errors)."""
    spec = SPECS[name]
    return f"{spec.expected} from {spec.url}"


def data_path(*parts: str) -> Path:
    """Path of a file inside :func:`shared_data_dir` (kept for callers of the former API)."""
    return shared_data_dir().joinpath(*parts)


def available(names: Sequence[str] | None = None) -> list[dict[str, object]]:
    """One record per data set: ``name, description, present, path, expected, url, formats``."""
    out: list[dict[str, object]] = []
    for name, spec in SPECS.items():
        if names is not None and name not in names:
            continue
        try:
            p = find(name)
        except CoreduceError:
            p = None
        out.append(
            {
                "name": name,
                "description": spec.description,
                "present": p is not None,
                "path": None if p is None else str(p),
                "expected": spec.expected,
                "url": spec.url,
                "formats": spec.formats,
            }
        )
    return out

"""Every data file the package reads ships in the wheel: it matches a ``package-data`` pattern of pyproject.toml."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "src" / "coreduce"


def _regex(pattern: str) -> re.Pattern[str]:
    # setuptools package-data globs: '*' stays inside one folder, '**' spans folders
    out = re.escape(pattern).replace(r"\*\*/", "(?:.*/)?").replace(r"\*", "[^/]*")
    return re.compile(f"^{out}$")


def test_every_data_file_matches_a_package_data_pattern():
    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["coreduce"]
    regexes = [_regex(p) for p in patterns]
    data = [
        p.relative_to(PKG).as_posix()
        for p in PKG.rglob("*")
        if p.is_file() and p.suffix not in (".py", ".pyc") and "__pycache__" not in p.parts
    ]
    assert {"schema/tables.csv", "account/data/emission_factors.csv", "report/templates/report.html"} <= set(data)
    assert any(d.startswith("datasets/beijing_2016/") for d in data)
    missing = [d for d in data if not any(r.match(d) for r in regexes)]
    assert not missing, f"not in [tool.setuptools.package-data] (would not ship in the wheel): {missing}"

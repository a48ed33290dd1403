"""Fixtures for the pipeline tests: an empty workspace URL on each backend, small activity and factor files."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from coreduce.store import Store

# A user factor set small enough to check by hand: test_fuel emits 2000 kg CO2/t and 5 kg SO2/t.
FACTORS = 'activity_type,pollutant,value,unit,source\ntest_fuel,CO2,2000,kg/t,"test: hand factor"\n' \
    'test_fuel,SO2,5,kg/t,"test: hand factor"\n'  # fmt: skip
HEADER = "entity,sector,period_start,period_end,activity_type,amount,unit\n"
ACTIVITY = HEADER + "plant_a,industry,2022-01-01,2023-01-01,test_fuel,100,t\n" \
    "plant_b,industry,2022-01-01,2023-01-01,test_fuel,30,t\n"  # fmt: skip


@pytest.fixture(autouse=True)
def _cache_in_tmp(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("cache")))


@pytest.fixture(params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty workspace on each backend."""
    if request.param == "duckdb":
        yield str(tmp_path / "ws.duckdb")
        return
    url = request.getfixturevalue("pg_url")
    with Store(url, create=False) as s:
        s.drop_all()
    yield url


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    """(activity.csv, factors.csv)."""
    a, f = tmp_path / "activity.csv", tmp_path / "factors.csv"
    a.write_text(ACTIVITY)
    f.write_text(FACTORS)
    return a, f

"""Frames are handed to DuckDB as dictionary-encoded Arrow tables for staging (speed); what is stored must be
exactly what staging the pandas frame itself stored: nulls, padding trimmed, non-ASCII text, and a column of
mixed Python objects (which Arrow refuses) still staged through the frame."""

from __future__ import annotations

import pandas as pd
import pyarrow as pa

from coreduce.schema import _scannable


def _activity(entity: list) -> pd.DataFrame:
    n = len(entity)
    return pd.DataFrame({
        "entity": entity, "sector": ["power"] * n,
        "period_start": pd.to_datetime(["2022-01-01T00:00:00Z"] * n),
        "period_end": pd.to_datetime(["2023-01-01T00:00:00Z"] * n),
        "activity_type": ["coal"] * n, "amount": [float(i + 1) for i in range(n)], "unit": ["t"] * n,
        "region": [None, "CN-GD", " 广东 "][:n] + ["CN-BJ"] * max(0, n - 3),
    })  # fmt: skip


def test_text_columns_become_dictionaries_and_mixed_objects_stay_a_frame() -> None:
    t = _scannable(_activity(["a", " b ", "电厂"]))
    assert isinstance(t, pa.Table) and pa.types.is_dictionary(t.schema.field("entity").type)
    assert t.column("region").to_pylist() == [None, "CN-GD", " 广东 "]
    mixed = _activity(["a", "b", "c"]).assign(amount=[1.0, "x", 3])
    assert isinstance(_scannable(mixed), pd.DataFrame)


def test_stored_rows_are_the_frame_values(tmp_path, monkeypatch) -> None:
    from coreduce.store import Store

    df = _activity(["a", " b ", "电厂"])
    stored = []
    for arrow in (True, False):  # the Arrow path, then the pandas frame scanned directly (as before)
        if not arrow:
            monkeypatch.setattr("coreduce.schema._scannable", lambda frame: frame)
        with Store(f"duckdb:///{tmp_path}/ws_{arrow}.duckdb") as st:
            with st.transaction() as tx:
                assert tx.upsert("activity", df) == (3, 0)
            stored.append(st.read("activity").sort_values("amount").reset_index(drop=True))
    pd.testing.assert_frame_equal(stored[0], stored[1])
    assert list(stored[0]["entity"]) == ["a", "b", "电厂"]  # padding trimmed by the staging rules

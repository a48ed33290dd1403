"""hash_frame's Arrow implementation against the definition of its canonical form written out value by value
(``_scalar`` per cell, Python's string sort, ``\\n``-joined lines), on frames chosen to catch the easy mistakes:
a line that is a prefix of another followed by a character below ``\\n`` (a tab), non-ASCII text, floats that are
integral, fractional, huge, ``-0.0``, NaN and infinite, null text and timestamps, and many rows."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import pytest

from coreduce.ledger.hashing import _esc, _scalar, hash_frame


def _reference(df: pd.DataFrame) -> str:
    cols = sorted(str(c) for c in df.columns)
    frame = df.set_axis([str(c) for c in df.columns], axis=1)
    values = [frame[c].astype(object).tolist() for c in cols]
    lines = sorted("\x1f".join(_scalar(v) for v in row) for row in zip(*values, strict=True)) if cols else []
    lines = lines or [""] * len(frame)
    text = "\n".join(["\x1f".join(_esc(c) for c in cols), *lines]) + "\n"
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def test_tricky_values_hash_as_the_definition_says() -> None:
    df = pd.DataFrame({
        "s": ["ab", "ab\t", "ab\tc", "é", "中文", None, "x\ny", "a\\b", "", "ab"],
        "f": [1.0, -0.0, 0.1, 1e300, np.nan, np.inf, -np.inf, 2.0**53, 1e16, 123456.789],
        "t": pd.to_datetime(["2022-01-01T00:00:00Z", None, "2022-06-01T12:30:00.000001Z", "2022-01-01T00:00:00Z",
                             "2023-01-01T00:00:00Z", None, "2022-01-01T00:00:00Z", "2021-01-01T00:00:00Z",
                             "2021-01-01T00:00:00Z", "2022-01-01T00:00:00Z"], format="ISO8601"),
        "i": list(range(-5, 5)),
        "b": [True, False] * 5,
    })  # fmt: skip
    assert hash_frame(df) == _reference(df)
    assert hash_frame(df[["s"]]) == _reference(df[["s"]])  # one column: "ab" before "ab\t"
    assert hash_frame(df.iloc[:0]) == _reference(df.iloc[:0])
    assert hash_frame(df[[]]) == _reference(df[[]])


@pytest.mark.parametrize("seed", [1, 2])
def test_random_frames_hash_as_the_definition_says(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 3000
    amount = rng.lognormal(0, 5, n)
    amount[rng.random(n) < 0.2] = np.round(amount[rng.random(n) < 0.2][:1].sum())  # some integral values
    amount[rng.random(n) < 0.05] = np.nan
    df = pd.DataFrame({
        "entity": rng.choice(["plant a", "plant\tb", "电厂", "x"], n),
        "amount": amount,
        "period_start": pd.Timestamp("2022-01-01", tz="UTC") + pd.to_timedelta(rng.integers(0, 12, n), unit="D"),
    })  # fmt: skip
    assert hash_frame(df) == _reference(df)

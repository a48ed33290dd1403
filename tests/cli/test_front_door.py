"""The front door, tried as a new user would (issue 11 item 9, issue 12 security 4 and reliability 12, 13, 15).

Each test is one defect found by trying the command line; each fails on the branch-point code (522c6fd).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from coreduce.cli.main import app

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
HEADER = "entity,sector,period_start,period_end,activity_type,amount,unit\n"
runner = CliRunner()


def _cli(*args: str, timeout: float = 120, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """The real console entry point in a fresh process (what a user runs), with a timeout."""
    code = "import sys; from coreduce.cli.main import app; sys.argv[0] = 'coreduce'; app()"
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


def _one_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    return lines[0]


# --- item 9: --version, help ---------------------------------------------------------------------------------


def test_version():
    from coreduce import __version__

    res = runner.invoke(app, ["--version"])
    assert res.exit_code == 0, res.output
    assert res.stdout == f"coreduce {__version__}\n"


@pytest.mark.parametrize("command", ["account", "ingest", "load", "demo", "factors"])
def test_json_is_shown_as_a_flag_not_taking_a_value(command):
    res = runner.invoke(app, [command, "--help"], env={"COLUMNS": "200"})
    assert res.exit_code == 0
    line = next(x for x in res.stdout.splitlines() if x.strip().startswith("--json"))
    assert "<bool>" not in line and "BOOLEAN" not in line, line
    assert "<bool>" not in res.stdout  # no flag is shown as taking a value


def test_load_help_names_no_nonexistent_option():
    res = runner.invoke(app, ["load", "--help"])
    assert res.exit_code == 0
    assert "--list" not in res.stdout
    assert "load list" in res.stdout or "'list'" in res.stdout


def test_factor_table_is_not_cut_at_80_columns():
    args = ["factors", "--activity-type", "coal_bituminous", "--pollutant", "NOx"]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    assert "…" not in res.stdout  # nothing elided
    rows = json.loads(runner.invoke(app, [*args, "--json"]).stdout)["factors"]
    flat = "".join(res.stdout.split())
    for r in rows:  # every source, in full (folded cells joined back)
        assert "".join(r["source"].split())[:60] in flat.replace("│", "")


# --- item 9: account prints its summary to stdout with the run id it recorded ---------------------------------


def test_account_summary_on_stdout_with_the_recorded_run_id(tmp_path):
    db = tmp_path / "ws.duckdb"
    out = tmp_path / "inv.csv"
    res = runner.invoke(
        app, ["account", "--activity", str(EXAMPLES / "activity.csv"), "--out", str(out), "--store", str(db)]
    )
    assert res.exit_code == 0, res.output
    runs = json.loads(runner.invoke(app, ["ledger", "list", "--store", str(db), "--json"]).stdout)
    run_id = runs[-1]["run_id"]
    assert f"run {run_id} recorded" in res.stdout
    assert f"wrote {sum(1 for _ in out.open()) - 1} rows to {out}" in res.stdout
    assert res.stderr == ""
    as_json = runner.invoke(
        app,
        ["account", "--activity", str(EXAMPLES / "activity.csv"), "--out", str(out), "--store", str(db), "--json"],
    )
    payload = json.loads(as_json.stdout)
    runs = json.loads(runner.invoke(app, ["ledger", "list", "--store", str(db), "--json"]).stdout)
    assert payload["run_id"] == runs[-1]["run_id"] and len(runs) == 2
    assert isinstance(payload["gaps"], list)


# --- one-line user errors instead of tracebacks (issue 12 reliability 12, 13, 15) ------------------------------


def test_unknown_table_is_one_line(tmp_path):
    res = runner.invoke(
        app, ["ingest", str(EXAMPLES / "activity.csv"), "--table", "nope", "--store", str(tmp_path / "w")]
    )
    assert res.exit_code == 2
    line = _one_line(res.stderr)
    assert line.startswith("error: <command line>, column '--table': got 'nope', expected a canonical table: ")
    assert "activity" in line and "observations" in line
    assert not (tmp_path / "w").exists()


@pytest.mark.parametrize("kind", ["directory", "file", "not-a-directory"])
def test_load_path_wrong_file_is_one_line(tmp_path, kind):
    wrong = {
        "directory": tmp_path,
        "file": EXAMPLES / "activity.csv",
        "not-a-directory": EXAMPLES / "activity.csv" / "x.csv",
    }[kind]
    res = runner.invoke(app, ["load", "ceads-national", "--path", str(wrong), "--store", str(tmp_path / "w.duckdb")])
    assert res.exit_code == 2, res.output
    assert _one_line(res.stderr).startswith(f"error: {wrong}")


@pytest.mark.parametrize("special", ["/dev/zero", "fifo", "directory"])
def test_activity_that_is_not_a_regular_file_is_refused_at_once(tmp_path, special):
    path = {"/dev/zero": Path("/dev/zero"), "fifo": tmp_path / "act.csv", "directory": tmp_path}[special]
    if special == "fifo":
        os.mkfifo(path)
    # a fresh process with a timeout: the branch-point code read /dev/zero or the FIFO forever
    proc = _cli("account", "--activity", str(path), "--out", str(tmp_path / "o.csv"), timeout=60)
    assert proc.returncode == 2, proc.stderr
    line = _one_line(proc.stderr)
    expected = {"/dev/zero": "not a device", "fifo": "not a FIFO", "directory": "not a directory"}[special]
    assert line.startswith(f"error: {path}: expected a") and line.endswith(expected)
    assert not (tmp_path / "o.csv").exists()


def test_no_timestamp_repr_in_messages(tmp_path):
    act = tmp_path / "a.csv"
    act.write_text(HEADER + "p,power,2023-01-01,2022-01-01,natural_gas,1,TJ\n")
    res = runner.invoke(app, ["account", "--no-store", "--activity", str(act), "--out", str(tmp_path / "o.csv")])
    assert res.exit_code == 2
    line = _one_line(res.stderr)
    assert "Timestamp(" not in line
    assert "2022-01-01" in line and "period_end" in line


def test_no_numpy_warning_on_stderr(tmp_path):
    act = tmp_path / "a.csv"
    act.write_text(HEADER + "p,power,2022-01-01,2023-01-01,natural_gas,1e308,kt\n")
    proc = _cli("account", "--no-store", "--activity", str(act), "--out", str(tmp_path / "o.csv"))
    assert "RuntimeWarning" not in proc.stderr and "Traceback" not in proc.stderr, proc.stderr


# --- secrets masked (issue 12 security 4) ---------------------------------------------------------------------


def test_password_masked_in_cannot_open_store_error(tmp_path):
    url = "postgresql://postgres:s3cr3t-pw@127.0.0.1:1/test"
    res = runner.invoke(
        app, ["account", "--activity", str(EXAMPLES / "activity.csv"), "--out", str(tmp_path / "o.csv"), "--store", url]
    )
    assert res.exit_code == 2
    line = _one_line(res.stderr)
    assert "s3cr3t-pw" not in res.output
    assert "postgresql://postgres:***@127.0.0.1:1/test" in line


@pytest.mark.postgres
def test_password_masked_in_ingest_line(pg_url):
    # the local server trusts every connection, so a password in the URL is accepted and must not be printed
    url = pg_url.replace("postgres@", "postgres:s3cr3t-pw@", 1)
    res = runner.invoke(app, ["ingest", str(EXAMPLES / "activity.csv"), "--table", "activity", "--store", url])
    assert res.exit_code == 0, res.output
    assert "s3cr3t-pw" not in res.output
    assert "postgres:***@" in res.stdout


# --- extras: the core works without them; a missing extra is one line naming it --------------------------------

BLOCK = """
import importlib.abc, sys
BLOCKED = {"plotly", "jinja2", "psycopg", "psycopg_binary", "codecarbon", "openpyxl", "statsforecast",
           "lightgbm", "torch", "linopy", "highspy", "pypsa", "pyfixest", "linearmodels", "statsmodels",
           "sklearn", "networkx", "fastapi", "uvicorn", "pyspark"}
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
sys.meta_path.insert(0, Block())
for m in list(sys.modules):
    if m.split(".")[0] in BLOCKED:
        del sys.modules[m]
"""


def _cli_without_extras(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    code = BLOCK + "\nfrom coreduce.cli.main import app\nsys.argv[0] = 'coreduce'\napp()\n"
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *args], capture_output=True, text=True, timeout=300, cwd=cwd
    )


def test_core_imports_and_accounts_without_any_extra(tmp_path):
    code = BLOCK + textwrap.dedent(
        """
        import importlib
        for m in ["coreduce", "coreduce.account", "coreduce.account.jobs", "coreduce.store", "coreduce.ledger",
                  "coreduce.schema", "coreduce.ingest.files", "coreduce.units", "coreduce.footprint",
                  "coreduce.export", "coreduce.cli.main", "coreduce.demo"]:
            importlib.import_module(m)
        print("ok")
        """
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok"
    db = tmp_path / "ws.duckdb"
    proc = _cli_without_extras(
        "account", "--activity", str(EXAMPLES / "activity.csv"), "--out", "inv.csv", "--store", str(db), cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr
    assert "recorded on the ledger" in proc.stdout


def test_missing_report_extra_is_one_line_naming_it(tmp_path):
    proc = _cli_without_extras("demo", "--out", "demo-out", cwd=tmp_path)
    assert proc.returncode == 2
    line = _one_line(proc.stderr)
    assert (
        line
        == "error: coreduce demo (the HTML report) needs the optional package 'plotly': pip install 'coreduce[report]'"
    )
    assert not (tmp_path / "demo-out").exists()


# --- item 9: load list says which data sets are present and where to get the others ------------------------------


def test_load_list_says_which_are_present_and_where_to_get_them(tmp_path, monkeypatch):
    monkeypatch.setenv("COREDUCE_DATA", str(tmp_path))  # an empty data folder: the only place looked in
    res = runner.invoke(app, ["load", "list", "--json"])
    assert res.exit_code == 0, res.output
    rows = json.loads(res.stdout)
    assert rows and not any(r["present"] for r in rows)
    ceads = next(r for r in rows if r["name"] == "ceads-national")
    assert ceads["url"].startswith("https://") and ceads["expected"]
    text = runner.invoke(app, ["load", "list"]).stdout
    assert "…" not in text
    flat = "".join(text.split()).replace("│", "")
    assert "".join(ceads["expected"].split()) in flat and ceads["url"] in flat
    missing = runner.invoke(app, ["load", "ceads-national", "--store", str(tmp_path / "w.duckdb")])
    assert missing.exit_code == 2
    line = _one_line(missing.stderr)
    assert ceads["expected"] in line or "not found" in line


def test_ledger_table_is_not_cut_when_piped(tmp_path):
    db = tmp_path / "ws.duckdb"
    acc = _cli("account", "--activity", str(EXAMPLES / "activity.csv"), "--out", str(tmp_path / "o.csv"),
               "--store", str(db))  # fmt: skip
    assert acc.returncode == 0, acc.stderr
    run_id = json.loads(_cli("ledger", "list", "--store", str(db), "--json").stdout)[0]["run_id"]
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    proc = subprocess.run(
        [sys.executable, "-c", "import sys; from coreduce.cli.main import app; sys.argv[0]='coreduce'; app()",
         "ledger", "list", "--store", str(db)],
        capture_output=True, text=True, timeout=120, env=env,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "…" not in proc.stdout
    assert run_id[:12] in proc.stdout


def test_an_unexpected_error_is_one_line_exit_1_and_debug_shows_it(tmp_path):
    # a failure no check foresaw (here: the pipeline raising RuntimeError) must not dump a traceback on the user
    code = (
        "import sys\n"
        "import coreduce.account.jobs as jobs\n"
        "def boom(*a, **k):\n"
        "    raise RuntimeError('disk on fire')\n"
        "jobs.account_files = boom\n"
        "from coreduce.cli.main import app\n"
        "sys.argv[0] = 'coreduce'\n"
        "app()\n"
    )
    args = ["account", "--no-store", "--activity", str(EXAMPLES / "activity.csv"), "--out", str(tmp_path / "o.csv")]
    proc = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    assert _one_line(proc.stderr) == (
        "error: unexpected RuntimeError: disk on fire (COREDUCE_DEBUG=1 shows the traceback)"
    )
    debug = subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COREDUCE_DEBUG": "1"},
    )
    assert debug.returncode == 1 and "Traceback" in debug.stderr and "disk on fire" in debug.stderr


def test_postgres_store_without_the_extra_names_it(tmp_path):
    proc = _cli_without_extras(
        "ingest", str(EXAMPLES / "activity.csv"), "--table", "activity",
        "--store", "postgresql://postgres:s3cr3t@127.0.0.1:5432/test", cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 2
    line = _one_line(proc.stderr)
    assert "s3cr3t" not in line
    assert line.endswith("(pip install 'coreduce[postgres]')") or "pip install 'coreduce[postgres]'" in line

"""A small run of the benchmark generator and runner, so that `make bench` keeps working."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.generate import write
from benchmarks.run import TINY
from lms_outcomes_plugin.formats import FormatOptions
from lms_outcomes_plugin.formats.instructure_csv import InstructureCsv
from lms_outcomes_plugin.records import GroupRecord, OutcomeRecord, RowError

ROOT = Path(__file__).resolve().parents[1]


def test_the_generator_is_seeded_and_imports_cleanly(tmp_path: Path) -> None:
    first = write(500, tmp_path / "a.csv", seed=7)
    again = write(500, tmp_path / "b.csv", seed=7)
    other = write(500, tmp_path / "c.csv", seed=8)

    assert first.read_bytes() == again.read_bytes() != other.read_bytes()
    with first.open("rb") as source:
        items = list(InstructureCsv().parse(source, FormatOptions()))
    assert not [item for item in items if isinstance(item, RowError)]
    assert sum(isinstance(item, GroupRecord) for item in items) == 50
    outcomes = [item for item in items if isinstance(item, OutcomeRecord)]
    assert len(outcomes) == 450
    assert all(len(outcome.ratings) == 4 for outcome in outcomes)
    with first.open(newline="", encoding="utf-8") as source:
        sizes = [len(",".join(row)) for row in csv.reader(source)]
    assert 300 < sum(sizes) / len(sizes) < 500  # ~400 bytes a row, as measured


@pytest.mark.parametrize("backend", [[], ["--postgres"]], ids=["sqlite", "postgresql"])
def test_the_runner_prints_its_table(backend: list[str]) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.run", "--rows", "400", "--big", "600",
         "--small", "200", "--wrk-seconds", "1", *backend],
        cwd=ROOT, capture_output=True, text=True, timeout=180, check=False,
    )

    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split(" | ")[0].strip() == "measure"
    measures = [line.split(" | ")[0].strip() for line in lines[2:]]
    on_sqlite = ["SQLite: import over HTTP", "SQLite: re-import"] if backend else []
    assert measures == [
        f"floor: csv + {'COPY' if backend else 'executemany'}", *on_sqlite,
        "import over HTTP", "dry run (then the import)",
        f"{TINY} rows of another account during it", "journal: first import",
        "journal: re-import with changes", "re-import (all unchanged)",
        "status p50 / p99 while importing", "status vs /users/self, req/s (wrk -c10)",
        "peak RSS importing 600 rows", "rows/s at 200 / 400 / 600", "export of 400 rows",
        "peak RSS exporting 1,000 rows",
    ]

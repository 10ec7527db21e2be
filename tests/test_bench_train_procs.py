"""benchmarks/bench_train_procs.py on the tiny set: a table with a row per worker count."""

from __future__ import annotations

from benchmarks import bench_train_procs
from tests.emoji_fixtures import write_emoji_set


def test_the_table_has_a_row_per_worker_count(tmp_path, capsys):
    data = write_emoji_set(tmp_path / "set", copies=2)
    assert bench_train_procs.main(["--data", str(data), "--shape", "test", "--batch-size", "4",
                                   "--short", "1", "--long", "2", "--rounds", "1"]) == 0
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.startswith("| 1 |")
            or line.startswith("| 2 |")]
    assert len(rows) == 2 and rows[0].endswith("| 1.00 |")


def test_bad_input_is_one_message(tmp_path, capsys):
    assert bench_train_procs.main(["--data", str(tmp_path / "none"), "--rounds", "1"]) == 1
    assert capsys.readouterr().out.startswith("bench_train_procs: ")

"""benchmarks/bench_precision.py: its clocks (the speed table by process CPU time)."""

from __future__ import annotations

import pytest

from tests.bench_modules import load_benchmark

bench = load_benchmark("bench_precision")


class _Record:
    total = 29


class _Model:
    """Stands in for a digit model: edits.sample yields its records from this."""


def test_time_sample_reads_the_clock_it_is_given(monkeypatch):
    monkeypatch.setattr(bench.edits, "sample", lambda *a, **k: iter([_Record()] * 29))
    model = _Model()
    model.predict = lambda *a: None
    ticks = iter(range(100))
    # each repeat reads the clock twice, 1 apart: 1 s over 3 of 29 updates, scaled to 29
    ms = bench.time_sample(model, batch=2, repeats=3, time_steps=3, seed=0,
                           clock=lambda: float(next(ticks)))
    assert ms == 1000 * (29 / 3) / 2


def test_the_cpu_clock_is_process_time_and_a_bad_clock_is_refused(capsys):
    assert bench.CLOCKS["cpu"] is bench.time.process_time
    with pytest.raises(SystemExit) as exit_:
        bench.main(["--clock", "gpu"])
    assert exit_.value.code == 2
    assert "invalid choice" in capsys.readouterr().err

"""The explorer, sweep and training panels against a session (no window): a fake engine that
lends a real tiny model (the explorer computes with it under the lease), its run settings, its
asker and preferences, its errors. No engine thread and no window."""

from __future__ import annotations

import threading
from contextlib import contextmanager

import numpy as np
import pytest
import torch
from PySide6.QtCore import QPointF
from PySide6.QtGui import QColor, QImage
from session_fakes import make_session

from app.engine_thread import ModelLease
from app.explorer import NoiseExplorer
from app.qt_images import qimage_to_numpy
from app.session.model_state import ModelState
from app.sweeps import SweepDialog
from app.training_panel import TrainingPanel
from engine.models.registry import load_model

WAIT_MS = 30_000  # the machine is shared: a tiny model's step can take 100 ms


@pytest.fixture(scope="module")
def tiny(tiny_model):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # two threads on a shared two-core machine run 10-50x slower
    yield load_model(tiny_model, "cpu")
    torch.set_num_threads(threads)


@pytest.fixture
def session(tmp_path, tiny, qtbot):
    session = make_session(tmp_path, "tiny", load=False)
    engine = session.engine
    engine.lease, engine.model, engine.lent_on = ModelLease(), tiny, []

    @contextmanager
    def lend_model(stop=None, urgent=False):
        with engine.lease.lend(stop, urgent):
            engine.lent_on.append(threading.current_thread() is threading.main_thread())
            yield engine.model

    engine.lend_model = lend_model
    engine.answer_load(ModelState.of(tiny, "tiny"))
    yield session
    session.stop_threads()


@pytest.fixture
def explorer(qtbot, session):
    panel = NoiseExplorer(session)
    qtbot.addWidget(panel)
    panel.show()
    yield panel
    assert panel.shutdown(5.0)


def test_the_explorer_takes_the_sessions_model_region_and_prompt(qtbot, session, explorer):
    session.settings.prompt = "3"
    with qtbot.waitSignals([explorer.updated, explorer.iterativeShown], timeout=WAIT_MS,
                           check_params_cbs=[lambda t: t == 60, lambda t: t == 60]):
        explorer.set_t(60)  # the slider: a rebuild (the prompt changed) keeps its t
    assert explorer.view.slider.maximum() == session.model.state.top == 300
    assert "'3'" in explorer.view.status.text()
    built = explorer.built()
    assert built is not None and built.prompt == "3" and built.model is session.engine.model
    assert not any(session.engine.lent_on), "the model was lent to the workers only"
    assert not explorer.column("iterative").isNull()


def test_the_explorer_says_a_prompt_it_cannot_take(qtbot, session, explorer):
    session.settings.prompt = "not a digit"
    with qtbot.waitSignal(explorer.failed, timeout=WAIT_MS) as failed:
        explorer.rebuild()
    assert "not a digit" in failed.args[0] and explorer.view.status.text() == failed.args[0]


def test_the_explorer_waits_while_the_engine_holds_its_model(qtbot, session, explorer):
    lease = session.engine.lease
    with lease.engine_turn():  # a run goes: the workers wait for the model
        explorer.set_t(100)
        qtbot.wait(300)
        assert explorer.column("x_t").isNull(), "nothing computed while the engine works"
    with qtbot.waitSignal(explorer.updated, timeout=WAIT_MS):
        pass  # served once the run let the model go


def test_the_explorer_figure_goes_where_the_asker_says(qtbot, session, explorer, tmp_path):
    explorer.show_iterative = False  # the figure alone (its three iterative columns)
    explorer.rebuild()
    session.asker.paths = [str(tmp_path / "rows")]
    with qtbot.waitSignal(explorer.figureMade, timeout=WAIT_MS):
        explorer.export_dialog()
    figure = QImage(str(tmp_path / "rows.png"))
    assert figure.height() > 3 * 112 and figure.width() > 5 * 112
    assert session.preferences.last_folder("export") == str(tmp_path)
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    explorer.export_figure(str(blocker / "rows.png"))
    assert session.said == [("Cannot export",
                             f"cannot write {blocker / 'rows.png'}: Not a directory")]


def test_a_figure_on_its_way_is_made_again_of_the_new_inputs(qtbot, session, explorer,
                                                             tmp_path):
    explorer.show_iterative = False
    explorer.rebuild()
    with session.engine.lease.engine_turn():  # a run holds the model: the figure waits
        explorer.export_figure(str(tmp_path / "rows.png"))
        doc = session.document  # a stroke: new inputs
        doc.begin_stroke("brush", QPointF(140, 60), 30, 0.8, QColor(255, 255, 255))
        doc.stroke_to(QPointF(140, 220))
        doc.end_stroke()
        explorer.rebuild()  # as the rebuild timer does after the stroke
    with qtbot.waitSignal(explorer.figureMade, timeout=WAIT_MS):
        pass
    qtbot.wait(200)  # anything else on its way arrives
    explorer.figure = None
    with qtbot.waitSignal(explorer.figureMade, timeout=WAIT_MS):
        explorer.export_figure(str(tmp_path / "fresh.png"))  # of the new drawing alone
    exported = qimage_to_numpy(QImage(str(tmp_path / "rows.png")), "L")
    fresh = qimage_to_numpy(QImage(str(tmp_path / "fresh.png")), "L")
    assert np.array_equal(exported, fresh), "made of the new drawing, not the old one"


def test_a_seed_sweep_runs_through_the_session_and_exports(qtbot, session, tmp_path):
    dialog = SweepDialog(session)
    qtbot.addWidget(dialog)
    session.settings.seed = 40
    dialog.set_kind("seed")
    assert dialog.values.text() == "40, 41, 42, 43, 44, 45"
    session.settings.mode = "sample"
    dialog.set_kind("i_start")
    assert dialog.values.text() == "1, 3, 5, 7, 10, 20", "from the model's strided steps"
    assert dialog.what.text().startswith("SDEdit of the canvas"), "Sample takes no image"
    dialog.set_kind("seed")
    assert dialog.what.text() == "Sample, once for each value"
    sweep = dialog.run_sweep("seed", [7, 8, 9])
    engine = session.engine
    assert [engine.jobs[i].seed for i in engine.pending] == [7, 8, 9]
    for _ in range(3):
        engine.step()
        engine.finish()
    assert not sweep.active and dialog.strip.labels() == ["seed 7", "seed 8", "seed 9"]
    levels = [int(qimage_to_numpy(i.image, "L").mean()) for i in sweep.items]
    assert levels == [7, 8, 9], "each result in its own cell, in order"
    assert len(session.history) == 3, "and in the history"
    session.asker.paths = [str(tmp_path / "strip")]
    dialog.export_dialog()
    assert QImage(str(tmp_path / "strip.png")).width() > 3 * 112
    assert session.preferences.last_folder("export") == str(tmp_path)


def test_a_sweep_the_session_cannot_run_says_why(qtbot, session):
    session.settings.mode = "inpaint"  # no mask painted
    dialog = SweepDialog(session)
    qtbot.addWidget(dialog)
    assert dialog.run_sweep("seed", [1, 2]) is None
    assert session.said and session.said[0][0] == "Cannot run"
    assert session.engine.pending == []


def test_the_training_panel_asks_and_loads_through_the_session(qtbot, session, tmp_path):
    panel = TrainingPanel(session)
    qtbot.addWidget(panel)
    assert panel.config().device == "cpu", "the session's device is cpu"
    session.asker.paths = [str(tmp_path / "run")]
    panel._browse()
    assert panel.out_dir() == tmp_path / "run"
    assert not panel.load_into_canvas(), "no weights there yet"
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "model.safetensors").write_bytes(b"")
    assert panel.load_into_canvas()
    assert session.engine.loads[-1][:2] == (str(tmp_path / "run"), "cpu")


def test_an_idle_panel_holds_no_thread(qtbot, session, explorer):
    with qtbot.waitSignals([explorer.updated, explorer.iterativeShown], timeout=WAIT_MS):
        explorer.set_t(20)
    qtbot.waitUntil(lambda: not explorer.fast_worker.is_running()
                    and not explorer.iterative_worker.is_running(), timeout=WAIT_MS)
    assert np.asarray(qimage_to_numpy(explorer.column("x_t"), "L")).std() > 0

"""DeepFloyd IF in the window, on tiny IF-shaped models loaded through the real path: free-text
prompts through the T5 encoder, stage II upscaling with previews, and the precision and offload
settings of the Model menu."""

import os

import numpy as np
import pytest
import torch
from test_app import RUN_TIMEOUT, open_window, run_and_wait, settings

from app.jobs import Job, make_run, resolve_job, upscale_loop
from app.qt_images import qimage_to_numpy, qimage_to_pil
from app.settings import Settings
from engine import devices, images
from engine.loops import final
from engine.models import registry
from engine.models.registry import load_model, loading_note
from engine.models.tiny import save_tiny_if, save_tiny_if_stage_two, tiny_embeddings


@pytest.fixture(autouse=True)
def isolated(if_environment):
    pass


@pytest.fixture(scope="module")
def if_pair(if_models):
    return if_models / "IF-I-tiny-v1.0"


def test_two_stages_count_as_one_run_and_end_four_times_larger(if_pair):
    model = load_model(str(if_pair), "cpu")
    up = model.upscaler()
    job = Job(mode="anagram", prompt="a rocket ship", prompt2="a pencil", view="rot180", steps=3,
              upscale=True)
    records = list(make_run(model, job, torch.Generator().manual_seed(0)))
    second = up.num_steps()
    assert [r.step for r in records] == list(range(1, 3 + second + 1))
    assert {r.total for r in records} == {3 + second}
    assert records[2].x_t.shape[-1] == 32 and records[-1].x_t.shape[-1] == 128
    plain = list(make_run(model, Job(mode="anagram", prompt="a rocket ship", prompt2="a pencil",
                                     view="rot180", steps=3), torch.Generator().manual_seed(0)))
    assert torch.equal(plain[-1].x_t, records[2].x_t), "stage I is the same run either way"
    alone = final(upscale_loop(model, resolve_job(model, job), records[2].x_t,
                               torch.Generator().manual_seed(0)))
    assert torch.equal(alone.x_t, records[-1].x_t), "stage II's noise comes from the seed alone"


def test_free_text_prompts_and_upscaling_in_the_window(qtbot, if_pair, tmp_path):
    window = open_window(qtbot, str(if_pair), tmp_path / "w")
    state = window.session.model_state
    assert state.free_text and state.upscaler and state.prompts is None
    assert "T5" in window.modes.prompt.toolTip()
    assert window.modes.upscale.isVisible() and window.modes.upscale.isEnabled()
    states = []
    window.session.engine.stateChanged.connect(states.append)
    window.modes.upscale.setChecked(True)
    typed = "a watercolour of a lighthouse"  # in no embeddings file: T5 encodes it
    previews, results = run_and_wait(qtbot, window, settings(window, "anagram", prompt=typed,
                                                             prompt2="an old man", steps=2))
    assert results[0]["upscale"] is True and results[0]["prompt"] == typed
    assert "upscaling" in states
    assert {p[0].width() for p in previews} == {32, 128}, "previews from both stages"
    result = window.results[-1]
    assert result.image.width() == 128
    assert result.frames and {f.width() for f in result.frames} == {128}, "one animation size"
    window.session.settings.apply_parameters({"mode": "sample", "upscale": False})
    assert not window.session.settings.job_fields()["upscale"]
    assert not window.modes.upscale.isChecked()


def test_a_result_upscaled_afterwards_matches_upscaling_in_the_run(qtbot, if_pair, tmp_path):
    window = open_window(qtbot, str(if_pair), tmp_path / "w")
    both = settings(window, "anagram", prompt="a rocket ship", prompt2="a pencil", view="rot180",
                    steps=2, seed=7)
    run_and_wait(qtbot, window, both | {"upscale": True})
    in_run = window.results[-1]
    run_and_wait(qtbot, window, both)
    small = window.results[-1]
    assert small.image.width() == 32
    menu = window.history_strip.context_menu(len(window.session.history) - 1)
    action = next(a for a in menu.actions() if a.objectName() == "upscaleRequested")
    assert action.isVisible() and action.isEnabled()
    with qtbot.waitSignal(window.session.engine.finished, timeout=RUN_TIMEOUT):
        action.trigger()
    later = window.results[-1]
    assert later.image.width() == 128 and later.parameters["upscale"] is True
    assert later.parameters["mode"] == "anagram" and later.parameters["prompt2"] == "a pencil"
    model = window.session.engine.loaded_model()  # idle now: safe to use here
    job = resolve_job(model, Job(mode="anagram", prompt="a rocket ship", prompt2="a pencil",
                                 view="rot180", seed=7))
    low = images.prepare_image(qimage_to_pil(small.image, "RGB"), 32, 3, (-1.0, 1.0))
    threads = torch.get_num_threads()
    torch.set_num_threads(max(1, (os.cpu_count() or 2) - 1))  # as the engine thread: same bits
    try:
        expected = final(upscale_loop(model, job, low, torch.Generator().manual_seed(7))).x_t
    finally:
        torch.set_num_threads(threads)
    assert np.array_equal(qimage_to_numpy(later.image, "RGB"),
                          np.asarray(images.to_pil(expected[0], (-1.0, 1.0))))
    assert in_run.image.width() == 128
    window.session.upscale_result(later)
    assert "only 32×32 results" in window.errors[-1]


def test_without_stage_two_the_upscale_box_says_why(qtbot, lone_if, tmp_path):
    window = open_window(qtbot, str(lone_if), tmp_path / "w")
    box = window.modes.upscale
    assert not window.session.model_state.upscaler
    menu = window.history_strip.context_menu(0)
    action = next(a for a in menu.actions() if a.objectName() == "upscaleRequested")
    assert action.isVisible() and not action.isEnabled() and "IF-II" in action.toolTip()
    assert box.isVisible() and not box.isEnabled() and "IF-II" in box.toolTip()
    assert window.session.settings.job_fields()["upscale"] is False
    with qtbot.waitSignal(window.session.engine.modelLoaded, timeout=RUN_TIMEOUT):
        window.session.load_model("mnist")
    assert not box.isVisible(), "digit models have no upscaler to offer"
    menu = window.history_strip.context_menu(0)
    assert not next(a for a in menu.actions() if a.objectName() == "upscaleRequested").isVisible()


def test_precision_reloads_if_and_a_refused_choice_comes_back(qtbot, lone_if, tmp_path,
                                                              monkeypatch):
    monkeypatch.setattr(devices, "cpu_has_native_bf16", lambda: False)  # auto = fp32
    prompts = tmp_path / "prompts.pth"
    torch.save(tiny_embeddings(["a high quality photo", ""]), prompts)
    window = open_window(qtbot, str(lone_if), tmp_path / "w")
    with qtbot.waitSignal(window.session.engine.modelLoaded, timeout=RUN_TIMEOUT):
        window.session.use_prompts_file(str(prompts))
    assert window.session.model_state.dtype == "float32" and "fp32" in window.model_label.text()
    with qtbot.waitSignal(window.session.engine.modelLoaded, timeout=RUN_TIMEOUT) as loaded:
        window.precision_actions["bf16"].trigger()
    assert loaded.args[0].dtype == "bfloat16"
    assert window.session.engine.loaded_model().unet.dtype == torch.bfloat16
    assert Settings(window.session.preferences.qsettings).precision == "bf16"
    fp16 = window.precision_actions["fp16"]
    assert not fp16.isEnabled() and "GPU only" in fp16.toolTip(), "not offered on the CPU"
    with qtbot.waitSignal(window.session.engine.loadFailed, timeout=RUN_TIMEOUT) as failed:
        window.session.set_precision("fp16")  # asked anyway (a setting from elsewhere): refused
    assert "fp32 or bf16" in failed.args[0] and window.errors
    assert window.session.precision == "bf16" and window.session.preferences.precision == "bf16"
    assert window.precision_actions["bf16"].isChecked()
    assert window.session.engine.loaded_model().dtype == torch.bfloat16, "the loaded model is kept"
    _, results = run_and_wait(qtbot, window, settings(window, "sample", steps=2))
    assert results, "and it still runs"


def test_digit_models_take_the_precision_and_ignore_offload(qtbot, tmp_path):
    ini = tmp_path / "w"
    window = open_window(qtbot, "mnist", ini)
    with qtbot.waitSignal(window.session.engine.modelLoaded, timeout=RUN_TIMEOUT):
        window.precision_actions["bf16"].trigger()  # issue 15: the digit models take it too
    with qtbot.waitSignal(window.session.engine.modelLoaded, timeout=RUN_TIMEOUT):
        window.offload_actions["model"].trigger()
    assert window.session.preferences.offload == "model"
    assert next(window.session.engine.loaded_model().net.parameters()).dtype == torch.bfloat16
    second = open_window(qtbot, "mnist", tmp_path / "w2", settings=window.session.preferences)
    assert second.session.precision == "bf16" and second.offload_actions["model"].isChecked()
    weights = next(second.session.engine.loaded_model().net.parameters())
    assert weights.dtype == torch.bfloat16, "loaded with them set"
    assert weights.device.type == "cpu", "offload means nothing to the digit models"


def test_the_memory_note_comes_before_loading(qtbot, lone_if, tmp_path, monkeypatch):
    assert loading_note(str(lone_if), "cpu") is None, "tiny weights stay quiet"
    monkeypatch.setattr(registry, "REPORT_FROM", 0)
    note = loading_note(str(lone_if), "cpu", "bf16")
    assert note.startswith(f"loading {lone_if.name}: needs about") and "bfloat16" in note
    assert loading_note("mnist", "cpu") is None
    window = open_window(qtbot, "mnist", tmp_path / "w")
    with qtbot.waitSignal(window.session.engine.loadNote, timeout=RUN_TIMEOUT) as said:
        window.session.load_model(str(lone_if))
    assert "needs about" in said.args[0]
    assert window.statusBar().currentMessage().startswith("Loading")


def test_the_model_menu_lists_cached_if_and_greys_out_stage_two(qtbot, tmp_path, monkeypatch):
    hub = tmp_path / "hub"
    for name, save in (("IF-I-tiny", save_tiny_if), ("IF-II-M-v1.0", save_tiny_if_stage_two)):
        repo = hub / f"models--DeepFloyd--{name}"
        save(repo / "snapshots" / "abc")
        (repo / "refs").mkdir()
        (repo / "refs" / "main").write_text("abc")
    monkeypatch.setenv("HF_HUB_CACHE", str(hub))
    window = open_window(qtbot, "mnist", tmp_path / "w")
    actions = {a.data(): a for a in window.model_actions()}
    assert actions["DeepFloyd/IF-I-tiny"].isEnabled()
    stage_two = actions["DeepFloyd/IF-II-M-v1.0"]
    assert not stage_two.isEnabled() and "Upscale" in stage_two.text()
    with qtbot.waitSignal(window.session.engine.modelLoaded, timeout=RUN_TIMEOUT) as loaded:
        actions["DeepFloyd/IF-I-tiny"].trigger()
    assert loaded.args[0].spec == "DeepFloyd/IF-I-tiny"
    assert loaded.args[0].upscaler, "stage II is found in the cache"


def test_the_explorer_encodes_a_typed_prompt_off_the_gui_thread(qtbot, if_pair, tmp_path,
                                                                 monkeypatch):
    import threading

    from transformers import T5EncoderModel

    real, loaded_on = T5EncoderModel.from_pretrained, []

    def recorded(*args, **kwargs):
        loaded_on.append(threading.current_thread() is threading.main_thread())
        return real(*args, **kwargs)

    monkeypatch.setattr(T5EncoderModel, "from_pretrained", recorded)
    window = open_window(qtbot, str(if_pair), tmp_path / "w")
    window.modes.prompt.set_prompt("a lighthouse at dusk")
    with qtbot.waitSignal(window.explorer.updated, timeout=RUN_TIMEOUT):
        window.show_explorer()
    assert loaded_on == [False], "T5 loaded once, by the explorer's thread"
    assert not window.explorer.column("one_step").isNull()

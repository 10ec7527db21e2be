"""The model state (app/session/model_state.py): a frozen record of the loaded model, and the
slot that loads and reloads with rollback, against a fake engine (no thread)."""

import dataclasses

import pytest
from PySide6.QtCore import QObject, Signal

from app.session.model_state import LoadRequest, ModelSlot, ModelState


class FakeEngine(QObject):
    """The engine as the slot sees it: loads are recorded and answered by the test."""

    modelLoaded = Signal(object)
    loadFailed = Signal(str)
    modelReleased = Signal(str)

    def __init__(self) -> None:
        super().__init__()
        self.asked: list[tuple] = []

    def load_model(self, spec, device="auto", prompts=None, dtype="auto", offload="none"):
        self.asked.append((spec, device, prompts, dtype, offload))


def state(spec: str = "mnist", **changes) -> ModelState:
    values = dict(spec=spec, name=spec, size=28, channels=1, data_range=(0.0, 1.0),
                  symmetric=False, conditional=True, prompts=("0", "1", ""), free_text=False,
                  words=None, upscaler=False, upscaler_name=None, dtype="float32",
                  takes_precision=True, default_prompt="0", default_guidance=5.0,
                  default_strength=0.7, timesteps=30, timestep_values=tuple(range(300, -1, -10)),
                  top=299, device="cpu")
    return ModelState(**(values | changes))


@pytest.fixture
def slot(qapp):
    engine = FakeEngine()
    s = ModelSlot(engine, LoadRequest("mnist", "auto", None, "auto", "none"))
    s.engine = engine
    s.said: list[str] = []
    s.failed.connect(s.said.append)
    return s


def test_the_state_of_a_real_model_says_what_it_is(tiny_model):
    from engine.models.registry import load_model

    model = load_model(tiny_model, "cpu")
    s = ModelState.of(model, tiny_model)
    ts = list(model.schedule.timesteps(None))
    assert (s.spec, s.size, s.channels) == (tiny_model, model.image_size, model.channels)
    assert s.prompts == tuple(model.prompt_choices()) and not s.free_text
    assert s.timestep_values == tuple(ts) and s.timesteps == len(ts) - 1 and ts[0] <= s.top
    assert s.timesteps_for(None) == ts and s.timesteps_for(5)[-1] == 0
    assert len(s.timesteps_for(5)) == 6 and s.timesteps_for(5)[0] == s.top
    import torch

    from engine.devices import DTYPES, small_model_precision

    picked = str(DTYPES[small_model_precision("auto", torch.device("cpu"))]).split(".")[1]
    assert s.is_digit_model and s.dtype == picked and s.device == "cpu"  # bf16 where native
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.size = 64
    values = s.panel_values()  # what the modes panel takes: plain values, lists
    assert values["prompts"] == list(s.prompts) and values["timestep_values"] == ts


def test_a_load_goes_to_the_engine_and_its_state_is_kept(slot):
    loaded = []
    slot.loaded.connect(loaded.append)
    assert slot.ask(spec="mnist", device="cpu")
    assert slot.engine.asked == [("mnist", "cpu", None, "auto", "none")]
    assert slot.busy() and slot.state is None
    slot.engine.modelLoaded.emit(state())
    assert loaded == [slot.state] and slot.good == slot.request and not slot.busy()
    assert not slot.ask(spec="mnist", device="cpu"), "loaded already: nothing goes out"
    assert len(slot.engine.asked) == 1


def test_a_reload_that_fails_rolls_back_and_says_what_was_kept(slot):
    requests = []
    slot.requestChanged.connect(requests.append)
    slot.ask(device="cpu")
    slot.engine.modelLoaded.emit(state(dtype="bfloat16"))
    good = slot.request
    slot.ask(precision="fp16")
    assert slot.request.precision == "fp16", "asked for while it loads"
    slot.engine.loadFailed.emit("fp16 needs a GPU: pick fp32 or bf16")
    assert slot.request == slot.good == good and requests[-1] == good, "rolled back"
    assert slot.said == ["fp16 needs a GPU: pick fp32 or bf16. Kept mnist (cpu, bf16)"]
    assert slot.state.dtype == "bfloat16", "the model loaded is kept"


def test_another_model_that_fails_leaves_the_one_loaded_and_its_embeddings(slot):
    slot.ask(spec="if", prompts=None)
    slot.engine.modelLoaded.emit(state("if", name="IF-I-M"))
    slot.ask(prompts="embeds.pth")
    slot.engine.modelLoaded.emit(state("if", name="IF-I-M"))
    slot.ask(spec="broken-folder")
    assert slot.request.prompts is None, "an embeddings file belongs to the model it was for"
    slot.engine.loadFailed.emit("no model in broken-folder")
    assert slot.request.spec == "if" and slot.request.prompts == "embeds.pth"
    assert slot.said[-1].startswith("no model in broken-folder. Kept IF-I-M")


def test_a_failure_with_nothing_loaded_is_said_as_it_is(slot):
    slot.ask(spec="missing")
    slot.engine.loadFailed.emit("no model named missing")
    assert slot.said == ["no model named missing"] and slot.request.spec == "missing"
    assert slot.state is None and slot.good is None


def test_loads_in_a_row_are_answered_in_turn(slot):
    slot.ask(spec="a")
    slot.ask(spec="b")
    slot.engine.loadFailed.emit("a is broken")  # b is still on its way: no rollback yet
    assert slot.request.spec == "b" and slot.busy()
    slot.engine.modelLoaded.emit(state("b"))
    assert slot.good.spec == slot.request.spec == "b" and not slot.busy()


def test_a_choice_the_model_does_not_take_is_kept_without_a_reload(slot):
    slot.ask()
    slot.engine.modelLoaded.emit(state(takes_precision=False))
    slot.settle(offload="model")
    assert slot.request.offload == slot.good.offload == "model"
    assert len(slot.engine.asked) == 1

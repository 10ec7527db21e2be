"""The model state: what is loaded, and what was asked for (issue 13). QtCore only.

`ModelState` is a frozen record of the loaded model in plain values (made once, in the engine
thread, by `ModelState.of`), read by the window, the panels and the sweeps in place of a dict.
`ModelSlot` is the load and the reload with rollback: the window asks it for a load (model,
device, embeddings file, precision, offload), the slot passes the request to the engine, and
when the engine says the load failed it rolls the request back to the last one that loaded and
says what was kept.
"""

from __future__ import annotations

from collections import deque
from dataclasses import asdict, dataclass, replace
from typing import TYPE_CHECKING, Any, Protocol

from PySide6.QtCore import QObject, Signal

from engine.prompt_sets import partner_prompt
from engine.schedules import evenly_spaced_timesteps

if TYPE_CHECKING:
    from engine.models.base import DiffusionModel

SHORT_DTYPES = {"float32": "fp32", "bfloat16": "bf16", "float16": "fp16"}
DIGIT_SIZE = 64  # grey models up to this size draw on the digit canvas


@dataclass(frozen=True)
class ModelState:
    """The loaded model in plain values. `prompts` is None where any text is taken
    (`free_text`), `words` the vocabulary of a model that has one; `timestep_values` the strided
    timesteps of the default step count (`timesteps` steps), `top` the first of the schedule."""

    spec: str
    name: str
    size: int
    channels: int
    data_range: tuple[float, float]
    symmetric: bool
    conditional: bool
    prompts: tuple[str, ...] | None
    free_text: bool
    words: tuple[str, ...] | None
    upscaler: bool  # an upscaler was found: Upscale works
    upscaler_name: str | None  # the upscaler this family can use, found or not
    dtype: str  # "float32", "bfloat16", "float16"
    takes_precision: bool  # Model > Precision reloads it
    default_prompt: str
    default_guidance: float
    default_strength: float
    timesteps: int
    timestep_values: tuple[int, ...]
    top: int
    device: str
    upscale_factor: int = 4  # how many times larger Upscale makes a result (IF 4, emoji 2)
    default_prompt2: str = ""  # a free-text model's second prompt (anagram, hybrid); "": none
    num_timesteps: int = 0  # the model's T (IF 1000, digits 300); `top` can be below it (IF 990)

    @classmethod
    def of(cls, model: DiffusionModel, spec: str) -> ModelState:
        """What the window and the panels need to know of `model`, loaded from `spec`."""
        timesteps = list(model.schedule.timesteps(None))
        choices = model.prompt_choices() if model.conditional else [""]
        words = list(getattr(model, "words", None) or [])
        return cls(
            spec=spec, name=model.name, size=int(model.image_size), channels=int(model.channels),
            data_range=(float(model.data_range[0]), float(model.data_range[1])),
            symmetric=bool(model.symmetric_range), conditional=bool(model.conditional),
            prompts=tuple(choices) if choices is not None else None,
            free_text=bool(model.conditional and choices is None),
            words=tuple(words) or None, upscaler=bool(model.has_upscaler()),
            upscaler_name=model.upscaler_name,
            dtype=str(model.dtype).removeprefix("torch."),
            takes_precision=bool(model.takes_precision),
            default_prompt=str(model.default_prompt),
            default_guidance=float(model.default_guidance),
            default_strength=float(model.default_strength),
            timesteps=len(timesteps) - 1, timestep_values=tuple(int(t) for t in timesteps),
            top=int(model.schedule.top), device=str(model.device),
            upscale_factor=int(model.upscale_factor()),
            num_timesteps=int(model.schedule.num_train_timesteps),
            default_prompt2=(partner_prompt(str(model.default_prompt), words)
                             if model.conditional and choices is None else ""))

    @property
    def short_dtype(self) -> str:
        return SHORT_DTYPES.get(self.dtype, self.dtype)

    @property
    def is_digit_model(self) -> bool:
        """A small grey model: it draws white on a black 280 px canvas."""
        return self.channels == 1 and self.size <= DIGIT_SIZE

    def timesteps_for(self, steps: int | None) -> list[int]:
        """The strided timesteps of `steps` steps (0 or None: the model's default)."""
        if not steps:
            return list(self.timestep_values)
        return list(evenly_spaced_timesteps(self.top, steps))

    def run_defaults(self) -> dict[str, Any]:
        """The run settings this model starts on where none were remembered for it: what the
        modes panel shows for it (widgets.modes_panel.ModesPanel.set_model_info), namely the
        default prompt, the second choice (or the free-text partner) as the second prompt,
        its guidance and strength, and its default step count (0)."""
        first = self.default_prompt
        if self.prompts and len(self.prompts) > 1:
            second = self.prompts[1]
        else:
            second = self.default_prompt2 or first
        return {"prompt": first, "prompt2": second, "prompt3": first, "prompt4": first,
                "medium": first, "guidance": self.default_guidance,
                "strength": self.default_strength, "steps": 0}

    def takes_prompt(self, prompt: object) -> bool:
        """`prompt` is text this model takes: any text for a free-text model, one of its
        choices otherwise."""
        return isinstance(prompt, str) and (self.prompts is None or prompt in self.prompts)

    def describe(self) -> str:
        """One line for the status bar: name, size, channels, device (and precision where the
        user chooses it)."""
        ch = self.channels
        dtype = f", {self.short_dtype}" if self.takes_precision else ""
        return (f"{self.name}  ({self.size}×{self.size}, {ch} channel{'s' if ch != 1 else ''}, "
                f"{self.device}{dtype})")

    def panel_values(self) -> dict[str, Any]:
        """Plain values for widgets.modes_panel.ModesPanel.set_model_info (widgets/ never
        import app/): the fields by name, sequences as lists."""
        values = asdict(self)
        for key in ("prompts", "words", "timestep_values"):
            if values[key] is not None:
                values[key] = list(values[key])
        return values


@dataclass(frozen=True)
class LoadRequest:
    """What to load: a bundled name, folder or cache id; the device; an embeddings file; the
    precision and offload (which apply where the model takes them)."""

    spec: str | None
    device: str = "auto"
    prompts: str | None = None
    precision: str = "auto"
    offload: str = "none"


class Loader(Protocol):
    """The engine as the slot uses it (app.engine_thread.EngineThread has these)."""

    modelLoaded: Any  # Signal(ModelState)
    loadFailed: Any  # Signal(str)
    modelReleased: Any  # Signal(str): the loaded model's name, let go before a large load

    def load_model(self, spec: str, device: str = "auto", prompts: str | None = None,
                   dtype: str = "auto", offload: str = "none") -> None: ...


class ModelSlot(QObject):
    """The model loaded (`state`), the one that loaded it (`good`) and the one asked for
    (`request`: the latest asked, or `good` when nothing is on the way).

    `ask(**changes)` sends a new request to the engine (none when it is what is loaded already);
    the engine answers each request in turn with `modelLoaded(state)` or `loadFailed(message)`.
    A failure with nothing else on the way rolls the request back to `good`, and `failed`
    carries the engine's message with what was kept.
    """

    loaded = Signal(object)  # ModelState
    failed = Signal(str)  # the message, saying what was kept
    requestChanged = Signal(object)  # LoadRequest: the request now (after a rollback too)

    def __init__(self, engine: Loader, request: LoadRequest,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._engine = engine
        self.request = request
        self.good: LoadRequest | None = None
        self.state: ModelState | None = None
        self._on_the_way: deque[LoadRequest] = deque()
        self._released = ""  # the model let go before a large load, until one loads
        engine.modelLoaded.connect(self._on_loaded)
        engine.loadFailed.connect(self._on_failed)
        engine.modelReleased.connect(self._on_released)

    def busy(self) -> bool:
        """A request is on the way to the engine."""
        return bool(self._on_the_way)

    def ask(self, **changes: Any) -> bool:
        """Asks for the request with `changes` (a new model forgets the embeddings file chosen
        for the last one); True if it went to the engine."""
        if "spec" in changes and changes["spec"] != self.request.spec:
            changes.setdefault("prompts", None)
        request = replace(self.request, **changes)
        self._set_request(request)
        if request.spec is None:
            return False
        if request == self.good and self.state is not None and not self._on_the_way:
            return False  # loaded already
        self._on_the_way.append(request)
        self._engine.load_model(request.spec, request.device, request.prompts,
                                request.precision, request.offload)
        return True

    def settle(self, **changes: Any) -> None:
        """A choice the loaded model does not depend on (the precision of a model that takes
        none): the request changes and so does the good one, with no reload."""
        self._set_request(replace(self.request, **changes))
        if self.good is not None:
            self.good = replace(self.good, **changes)

    def _set_request(self, request: LoadRequest) -> None:
        if request != self.request:
            self.request = request
            self.requestChanged.emit(request)

    def _on_loaded(self, state: ModelState) -> None:
        asked = self._on_the_way.popleft() if self._on_the_way else self.request
        self.good = replace(asked, spec=state.spec)
        self.state, self._released = state, ""
        if not self._on_the_way:
            self._set_request(self.good)
        self.loaded.emit(state)

    def _on_released(self, name: str) -> None:
        """The engine let the loaded model go to make room: nothing is loaded until one is."""
        self.state, self.good, self._released = None, None, name

    def _on_failed(self, message: str) -> None:
        if self._on_the_way:
            self._on_the_way.popleft()
        if not self._on_the_way and self.good is not None:
            self._set_request(self.good)  # roll back to what is loaded
        self.failed.emit(self.kept_message(message))

    def kept_message(self, message: str) -> str:
        """The engine's message, and what is still loaded (nothing: the message alone)."""
        if self.state is None and self._released:
            return (f"{message}. Nothing is loaded: {self._released} was let go first to make "
                    "room; pick a model in the Model menu")
        if self.state is None:
            return message
        s = self.state
        precision = f", {s.short_dtype}" if s.takes_precision else ""
        return f"{message}. Kept {s.name} ({s.device}{precision})"

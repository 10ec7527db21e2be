"""The modes panel: pick a mode and its settings, then Run or Cancel (their keys: the app's).

It knows nothing of the engine: the modes come in as plain rows (`ModeRow`: the window passes
app/session/modes.py's table), `set_model_info` gives it plain values (prompt list, defaults,
timesteps). It is a view: the run settings live in app/session/settings.py's RunSettings, bound
to these widgets both ways by the window; `runRequested` only asks for a run of them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from PySide6.QtCore import QSignalBlocker, Qt, Signal
from PySide6.QtGui import QAction, QKeySequence, QStandardItemModel
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QRadioButton,
    QSizePolicy,
    QSlider,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from widgets.illusion_options import IllusionOptions, fill_view_box
from widgets.prompt_words import WordCompleter
from widgets.rows import row_of

UNCONDITIONAL = "(unconditional)"
WAITING = "the model is loading…"
STEPS_MAX = 1000  # before a model says its own number of timesteps
RECENT_PROMPTS = 20  # a free-text model's prompt list: the prompts run lately
GUIDANCE_TIP = ("Classifier-free guidance scale: 1 = the prompt without guidance, above 1 pulls "
                "harder towards it, 0 ignores it (the unconditional model)")
NO_GUIDANCE_TIP = "This model takes no prompt, so guidance has nothing to steer by"
UNCONDITIONAL_GUIDANCE_TIP = ("The prompt is unconditional: guidance has nothing to steer by "
                              "(pick a prompt to use it)")
MAX_SEED = 2**31 - 1
DEFAULT_STRENGTH = 0.7  # SDEdit's share of noise until a model says its own default
LIVE_MAX_SIZE = 64  # Live mode needs a model small enough to re-run while the user draws
OPTIONAL_ROWS = ("prompt2", "view", "sigma", "illusion", "strength", "live")


def with_keys(tip: str, action: QAction) -> str:
    """`tip` and the action's keys, as a user reads them: "Stop the run (Esc)"."""
    keys = ", ".join(k.toString(QKeySequence.SequenceFormat.NativeText)
                     for k in action.shortcuts())
    return f"{tip} ({keys})" if keys else tip


class ModeRow(Protocol):
    """What the panel reads of a mode (app/session/modes.py's Mode has these): `rows` names its
    optional rows (OPTIONAL_ROWS): "prompt2" means a second prompt, "strength" an i_start,
    "live" that it can re-run as the user draws; `small_note` is added to the hint for models
    of at most `small_size` pixels."""

    @property
    def key(self) -> str: ...
    @property
    def label(self) -> str: ...
    @property
    def hint(self) -> str: ...
    @property
    def rows(self) -> frozenset[str]: ...
    @property
    def prompt_labels(self) -> tuple[str, str]: ...
    @property
    def small_note(self) -> str: ...
    @property
    def small_size(self) -> int: ...


class PromptBox(QComboBox):
    """An editable prompt combo; '' is shown as "(unconditional)"."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setEditable(True)
        self.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.setMinimumContentsLength(10)
        self.setMaxVisibleItems(30)  # the digit model's eleven prompts at once, no scrolling
        self._item_completer = self.completer()
        self._item_completer.setParent(self)  # else the line edit deletes it in set_words
        self.word_completer = WordCompleter(self.lineEdit())
        self._free_text = False

    def set_choices(self, choices: list[str] | None, current: str) -> None:
        """A model's fixed prompts (the digits), or None: free text, and the list holds the
        prompts run lately, newest first."""
        self.clear()
        self._free_text = choices is None
        for prompt in choices or ([current] if current else []):
            self.addItem(prompt if prompt else UNCONDITIONAL, prompt)
        self.set_prompt(current)

    def remember(self) -> None:
        """The prompt shown, run just now: first in a free-text model's list (once)."""
        prompt = self.prompt()
        if not self._free_text or not prompt:
            return
        old = self.findData(prompt)
        if old == 0:
            return
        if old > 0:
            self.removeItem(old)
        self.insertItem(0, prompt, prompt)
        while self.count() > RECENT_PROMPTS:
            self.removeItem(self.count() - 1)
        self.setCurrentIndex(0)

    def set_prompt(self, prompt: str) -> None:
        index = self.findData(prompt)
        if index >= 0:
            self.setCurrentIndex(index)
        else:
            self.setEditText(prompt if prompt else UNCONDITIONAL)

    def set_words(self, words: list[str] | None) -> None:
        """A model's vocabulary: the word being typed completes from it (None: no completion
        but the combo's own, from its items)."""
        self.word_completer.set_words(words)
        if not words:
            if self.completer() is None:
                self.setCompleter(self._item_completer)
        else:
            self.lineEdit().setCompleter(None)  # its inline completion would fight the popup
            self.setToolTip("Type words this model knows: the word being typed completes from "
                            f"its {len(words)} words, and a word it does not know is named")

    def prompt(self) -> str:
        text = self.currentText().strip()
        if text == UNCONDITIONAL:
            return ""
        index = self.findText(text)
        return str(self.itemData(index)) if index >= 0 else text


class ModesPanel(QWidget):
    """Mode, prompts and settings; emits runRequested(settings) and cancelRequested()."""

    runRequested = Signal()
    cancelRequested = Signal()
    stepsChanged = Signal(int)  # 0 = the model's default
    modeChanged = Signal(str)
    liveChanged = Signal(bool)  # the Live toggle (SDEdit re-runs as the user draws)
    strengthChanged = Signal(float)  # the strength as a fraction (1 = pure noise)

    def __init__(self, parent: QWidget | None = None, modes: Sequence[ModeRow] = ()) -> None:
        super().__init__(parent)
        self._modes: dict[str, ModeRow] = {}
        self._timesteps: list[int] = []
        self._default_steps = 0
        self._has_model = self._loading = False  # Run needs a model, and none on its way
        self._build()
        self._connect()
        self.set_modes(modes)
        self.set_model_info(None)

    # --- building ---------------------------------------------------------------------------
    def _build(self) -> None:
        self.mode = QComboBox(self)
        self.mode_hint = QLabel(self, wordWrap=True)
        self.mode_hint.setStyleSheet("QLabel { color: palette(mid); }")
        # the hint wraps to the width the controls set; it never widens the panel itself
        self.mode_hint.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.prompt = PromptBox(self)
        self.prompt2 = PromptBox(self)
        self.view = QComboBox(self)
        fill_view_box(self.view)  # the failure views in their own group
        self.illusion = IllusionOptions(PromptBox, self)  # 3-4 view anagrams, hybrid splits
        self.illusion.watch_view(self.view)
        self.sigma = QDoubleSpinBox(self, minimum=0.0, maximum=20.0, singleStep=0.5, decimals=1)
        self.sigma.setSpecialValueText("auto")
        self.sigma.setToolTip("Blur σ of the low-pass part (auto scales with the image size)")
        # The slider's value is how many strided steps of noise are added (max_i_start - i_start),
        # so right, up, PgUp and the wheel all mean more noise, a bigger change.
        self.strength = QSlider(Qt.Orientation.Horizontal, self, minimum=0, maximum=1)
        self.strength.setToolTip("How much of the drawing SDEdit changes: right = more noise. "
                                 "i_start is the course's index into the strided timesteps "
                                 "(0 = pure noise)")
        self._strength_fraction = DEFAULT_STRENGTH
        self._conditional = True
        self._model_size = 0
        self.strength_label = QLabel(self)
        self.guidance = QDoubleSpinBox(self, minimum=0.0, maximum=30.0, singleStep=0.5,
                                       decimals=1)
        self.guidance.setToolTip(GUIDANCE_TIP)
        self.steps = QSpinBox(self, minimum=0, maximum=STEPS_MAX)
        self.steps.setSpecialValueText("default")
        self.seed = QSpinBox(self, minimum=0, maximum=MAX_SEED)
        self.seed.setMinimumWidth(self.seed.fontMetrics().horizontalAdvance(str(MAX_SEED)) + 36)
        self.random_seed = QCheckBox("random", self, checked=True)
        self.random_seed.setToolTip("A new seed for every run (shown here, so it can be reused)")
        self.dice = QToolButton(self, text="Roll")
        self.dice.setToolTip("Roll a new seed and keep it fixed")
        self.count = QSpinBox(self, minimum=1, maximum=64, value=1)
        self.preview_every = QSpinBox(self, minimum=1, maximum=1000, value=1)
        self.preview_every.setPrefix("every ")
        self.preview_every.setSuffix(" steps")
        self.show_xt = QRadioButton("x_t (noisy)", self, checked=True)
        self.show_x0 = QRadioButton("x̂_0 (estimate)", self)
        kind = QButtonGroup(self)
        kind.addButton(self.show_xt)
        kind.addButton(self.show_x0)
        self.upscale = QCheckBox("×4 with IF stage II", self)
        self.live = QCheckBox("re-run SDEdit as you draw", self)
        self.live.setToolTip("SDEdit runs again shortly after every stroke; the result shows "
                             "beside the canvas (small models only)")
        self.live_steps = QSpinBox(self, minimum=0, maximum=1000)
        self.live_steps.setSpecialValueText("as Run")
        self.live_steps.setSuffix(" steps")
        self.live_steps.setToolTip("Live's own step count, coarser than Run's so it keeps up "
                                   "with the drawing; the strength keeps its share of the noise. "
                                   "Run always takes the Steps above ('as Run': Live takes them "
                                   "too)")
        self.run_button = QPushButton("Run", self)
        self.cancel_button = QPushButton("Cancel", self, enabled=False)
        self._actions()
        self._lay_out()

    def _actions(self) -> None:
        """Run and Cancel; whoever builds the panel gives them their keys (shown in the
        buttons' tips)."""
        self.run_action = QAction("Run", self)
        self.cancel_action = QAction("Cancel run", self, enabled=False)
        for action, button, tip in ((self.run_action, self.run_button, "Run the current mode"),
                                    (self.cancel_action, self.cancel_button, "Stop the run")):
            self.addAction(action)  # shortcuts work while the panel is in a window
            action.changed.connect(
                lambda a=action, b=button, t=tip: b.setToolTip(with_keys(t, a)))
            button.setToolTip(tip)

    def _lay_out(self) -> None:
        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.setLabelAlignment(Qt.AlignmentFlag.AlignRight)
        self._form = form
        self.prompt_label, self.prompt2_label = QLabel("Prompt", self), QLabel("Prompt 2", self)
        strength = QWidget(self)
        column = QVBoxLayout(strength)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(0)
        column.addWidget(self.strength)
        column.addWidget(self.strength_label)
        form.addRow("Mode", self.mode)
        form.addRow("", self.mode_hint)
        form.addRow(self.prompt_label, self.prompt)
        form.addRow(self.prompt2_label, self.prompt2)
        form.addRow("View", self.view)
        form.addRow("Blur σ", self.sigma)
        form.addRow("", self.illusion)
        form.addRow("Strength", strength)
        form.addRow("Guidance", self.guidance)
        form.addRow("Steps", self.steps)
        form.addRow("Seed", row_of(self, self.seed, self.random_seed, self.dice, stretch=True))
        form.addRow("Count", self.count)
        form.addRow("Preview", self.preview_every)
        form.addRow("Show", row_of(self, self.show_xt, self.show_x0, stretch=True))
        form.addRow("Upscale", self.upscale)
        live = row_of(self, self.live, self.live_steps, stretch=True)
        form.addRow("Live", live)
        self._optional = {"prompt2": self.prompt2, "view": self.view, "sigma": self.sigma,
                          "illusion": self.illusion,
                          "strength": strength, "live": live}
        buttons = QHBoxLayout()
        buttons.addWidget(self.run_button, 1)
        buttons.addWidget(self.cancel_button, 1)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(6, 6, 6, 6)
        outer.addLayout(form)
        outer.addLayout(buttons)
        outer.addStretch(1)

    def _connect(self) -> None:
        self.mode.currentIndexChanged.connect(self._on_mode)
        self.prompt.currentTextChanged.connect(self._update_guidance)
        self.prompt2.currentTextChanged.connect(self._update_guidance)
        self.strength.valueChanged.connect(self._on_strength_moved)
        self.steps.valueChanged.connect(self.stepsChanged)
        self.run_button.clicked.connect(self.request_run)
        self.run_action.triggered.connect(self.request_run)
        self.cancel_button.clicked.connect(self.cancelRequested)
        self.cancel_action.triggered.connect(self.cancelRequested)
        self.live.toggled.connect(self.liveChanged)

    def set_modes(self, modes: Sequence[ModeRow]) -> None:
        """The modes offered, in order (the current one is kept where it is still offered)."""
        current = self.current_mode()
        self._modes = {row.key: row for row in modes}
        self.mode.blockSignals(True)
        self.mode.clear()
        for row in modes:
            self.mode.addItem(row.label, row.key)
        self.mode.blockSignals(False)
        self._offer_two_prompt_modes()
        self.set_mode(current)
        self._show_rows()
        self._keep_one_width()

    def _offer_two_prompt_modes(self) -> None:
        """The modes that mix two prompts' estimates (anagram, hybrid) are greyed out for an
        unconditional model, which has one estimate only."""
        model = self.mode.model()
        if not isinstance(model, QStandardItemModel):
            return
        able = self._conditional
        for index in range(self.mode.count()):
            row = self._modes.get(self.mode.itemData(index))
            if row is not None and "prompt2" in row.rows:
                model.item(index).setEnabled(able)
                model.item(index).setToolTip("" if able else "Mixes two prompts: this model is "
                                             "unconditional; pick a conditioned one")

    def _rows(self, mode: str | None = None) -> frozenset[str]:
        row = self._modes.get(mode or self.current_mode())
        return row.rows if row is not None else frozenset()

    # --- the model ------------------------------------------------------------------------------
    def set_model_info(self, info: dict[str, Any] | None) -> None:
        """Fills the prompts and defaults from a model's info (None: no model loaded)."""
        info = info or {}
        self._show_waiting(False)
        choices = info.get("prompts")
        default = str(info.get("default_prompt", ""))
        self.prompt.set_choices(choices, default)
        self.prompt2.set_choices(choices, str(info.get("default_prompt2") or default))
        if choices and len(choices) > 1:
            self.prompt2.setCurrentIndex(min(1, self.prompt2.count() - 1))
        self.guidance.setValue(float(info.get("default_guidance", 1.0)))
        self._conditional = bool(info.get("conditional", True))
        self._offer_two_prompt_modes()
        self._update_guidance()
        self.set_strength_fraction(float(info.get("default_strength", DEFAULT_STRENGTH)))
        self._model_size = int(info.get("size", 0))
        self._default_steps = int(info.get("timesteps", 0))
        self.steps.setSpecialValueText(
            f"default ({self._default_steps})" if self._default_steps else "default")
        self._limit_steps(info.get("top"))
        self._set_negate_enabled(bool(info.get("symmetric", False)))
        self.illusion.set_choices(choices, default, bool(info.get("symmetric", False)))
        self.illusion.set_suggested(info.get("suggested"))
        self.set_timesteps(list(info.get("timestep_values", [])))
        self._has_model, self._loading = bool(info), False
        self._update_run_enabled()
        small = bool(info) and int(info.get("size", 0)) <= LIVE_MAX_SIZE
        if not small:
            self.live.setChecked(False)
        self.live.setEnabled(small)
        self.live_steps.setEnabled(small)
        self._set_upscaler(info.get("upscaler_name"), bool(info.get("upscaler", False)),
                           int(info.get("upscale_factor", 4)))
        self._set_prompt_hint(bool(info.get("free_text", False)), choices)
        self.prompt.set_words(info.get("words"))
        self.prompt2.set_words(info.get("words"))
        self.illusion.set_words(info.get("words"))
        self._keep_one_width()

    def _limit_steps(self, top: int | None) -> None:
        """No more steps than the model has timesteps (`top` + 1: 300 for the digit models):
        a larger number would run that many and show the one asked for."""
        most = int(top) + 1 if top is not None else STEPS_MAX
        self.steps.setMaximum(most)
        self.steps.setToolTip(f"Denoising steps, strided over the model's {most} timesteps "
                              "(0: the model's default)" if top is not None else "")

    def _set_upscaler(self, name: str | None, available: bool, factor: int = 4) -> None:
        """The Upscale row shows for models that take an upscaler; it works where one is found.
        `factor`: how many times larger it makes a result (IF's 4, the emoji cascade's 2)."""
        self._form.setRowVisible(self.upscale, bool(name))
        if not available:
            self.upscale.setChecked(False)
        self.upscale.setEnabled(available)
        self.upscale.setText(f"×{factor} with {name}" if name else f"×{factor}")
        self.upscale.setToolTip(
            f"Run {name} on the result: {factor}× larger, with the same views for anagrams"
            if available else f"{name or 'An upscaler'} was not found: put a stage II folder "
            "beside the stage I folder (IF-II-L or IF-II-M; for a cascade of your own its IF-II-… "
            "folder, e.g. from `train emoji-upscale`), or IF-II-L / -M in the Hugging Face "
            "cache (README: DeepFloyd IF)")

    def _set_prompt_hint(self, free_text: bool, choices: list[str] | None) -> None:
        if free_text:
            hint = "Type any prompt: the model's T5 encoder turns it into an embedding"
        elif choices and len(choices) > 1:
            hint = "The prompts this model has embeddings for"
        else:
            hint = ""
        self.prompt.setToolTip(hint)
        self.prompt2.setToolTip(hint)

    def _set_negate_enabled(self, enabled: bool) -> None:
        model = self.view.model()
        index = self.view.findData("negate")
        if isinstance(model, QStandardItemModel) and index >= 0:
            model.item(index).setEnabled(enabled)
            if not enabled and self.view.currentIndex() == index:
                self.view.setCurrentIndex(0)

    def set_timesteps(self, timesteps: list[int]) -> None:
        """The strided timesteps of the current step count. The strength is kept as a fraction
        (1 = pure noise), so changing the step count, even through a half-typed number, never
        moves it; the slider shows the nearest i_start."""
        self._timesteps = list(timesteps)
        self.strength.blockSignals(True)
        self.strength.setMaximum(self._max_i_start())
        self.strength.setValue(self._max_i_start() - self._i_start_for(self._strength_fraction))
        self.strength.blockSignals(False)
        self._show_strength()

    def _max_i_start(self) -> int:
        """The last i_start that still denoises (the final timestep, t = 0, would not)."""
        return max(len(self._timesteps) - 2, 0)

    def _i_start_for(self, fraction: float) -> int:
        n = len(self._timesteps)
        return min(round((1.0 - fraction) * (n - 1)), self._max_i_start()) if n > 1 else 0

    def i_start(self) -> int:
        """The course's i_start that the strength slider shows (0 = pure noise)."""
        return self._max_i_start() - self.strength.value()

    def set_i_start(self, i_start: int) -> None:
        i_start = min(max(int(i_start), 0), self._max_i_start())
        self.strength.setValue(self._max_i_start() - i_start)
        self._on_strength_moved()

    def _on_strength_moved(self, *_: object) -> None:
        n = len(self._timesteps)
        if n > 1:
            self._strength_fraction = 1.0 - self.i_start() / (n - 1)
        self._show_strength()
        self.strengthChanged.emit(self._strength_fraction)

    def strength_fraction(self) -> float:
        """The strength as a fraction (1 = pure noise); the slider shows the nearest i_start."""
        return self._strength_fraction

    def set_strength_fraction(self, fraction: float) -> None:
        self._strength_fraction = float(fraction)
        self.set_timesteps(self._timesteps)  # the slider moves to the nearest i_start
        self.strengthChanged.emit(self._strength_fraction)

    def _show_strength(self) -> None:
        ts = self._timesteps
        if len(ts) < 2:
            self.strength_label.setText("i_start –")
            return
        i_start = self.i_start()
        self.strength_label.setText(
            f"strength {1.0 - i_start / (len(ts) - 1):.2f} · i_start {i_start} of "
            f"0–{self._max_i_start()} (t = {ts[i_start]})")

    # --- modes and running ----------------------------------------------------------------------
    def current_mode(self) -> str:
        return str(self.mode.currentData())

    def set_mode(self, mode: str) -> None:
        index = self.mode.findData(mode)
        if index >= 0:
            self.mode.setCurrentIndex(index)

    def is_live(self) -> bool:
        """Live is on and applies (SDEdit mode)."""
        return self.live.isChecked() and self.live.isEnabled() and "live" in self._rows()

    def _update_guidance(self, *_: object) -> None:
        """Guidance steers by the prompts: greyed out where every prompt is unconditional."""
        if not self._conditional:
            self.guidance.setEnabled(False)
            self.guidance.setToolTip(NO_GUIDANCE_TIP)
            return
        prompts = [self.prompt.prompt()]
        if "prompt2" in self._rows():
            prompts.append(self.prompt2.prompt())
        steering = any(prompts)
        self.guidance.setEnabled(steering)
        self.guidance.setToolTip(GUIDANCE_TIP if steering else UNCONDITIONAL_GUIDANCE_TIP)

    def _on_mode(self) -> None:
        self._show_rows()
        self._update_guidance()
        if self.live.isChecked():
            self.liveChanged.emit(self.is_live())
        self.modeChanged.emit(self.current_mode())

    def _show_rows(self, mode: str | None = None) -> None:
        mode = mode or self.current_mode()
        row = self._modes.get(mode)
        rows = row.rows if row is not None else frozenset()
        for name, widget in self._optional.items():
            self._form.setRowVisible(widget, name in rows)
        self.illusion.set_mode(mode)
        hint = row.hint if row is not None else ""
        if row is not None and 0 < self._model_size <= row.small_size:
            hint += row.small_note
        self.mode_hint.setText(hint)
        first, second = row.prompt_labels if row is not None else ("Prompt", "Prompt 2")
        self.prompt_label.setText(first)
        self.prompt2_label.setText(second)

    def _keep_one_width(self) -> None:
        """The panel is as wide as its widest mode needs, so switching modes never resizes it;
        and it never narrows for a model whose rows need less (mnist-time's took 35 px back
        from the canvas, which jumped at every switch)."""
        widest = self.minimumWidth()
        for key in self._modes:
            self._show_rows(key)
            self.layout().activate()
            widest = max(widest, self.sizeHint().width())
        self._show_rows()
        self.setMinimumWidth(widest)

    def set_loading(self, loading: bool) -> None:
        """Run waits while a model loads: the settings shown are the last model's (before the
        first one is in, there are none: the prompt boxes say it is on its way)."""
        self._loading = loading
        self._show_waiting(loading and not self._has_model)
        self._update_run_enabled()

    def _show_waiting(self, waiting: bool) -> None:
        for box in (self.prompt, self.prompt2):
            box.setEnabled(not waiting)
            box.lineEdit().setPlaceholderText(WAITING if waiting else "")
            if waiting:
                with QSignalBlocker(box):  # no edit of the user's: the settings keep the prompt
                    box.clear()
                    box.clearEditText()

    def _update_run_enabled(self) -> None:
        ready = self._has_model and not self._loading
        self.run_button.setEnabled(ready)
        self.run_action.setEnabled(ready)

    def remember_prompts(self) -> None:
        """A run was asked for: its prompts go first in their boxes' lists."""
        ill = self.illusion
        for box in (self.prompt, self.prompt2, ill.prompt3, ill.prompt4, ill.medium):
            box.remember()

    def set_running(self, running: bool) -> None:
        self.cancel_button.setEnabled(running)
        self.cancel_action.setEnabled(running)

    def request_run(self) -> None:
        if self.run_button.isEnabled():
            self.runRequested.emit()

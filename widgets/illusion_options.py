"""The illusions' further settings in the modes panel: anagrams over 3 and 4 views (a prompt and a
view each) with the seed of the seeded views, and a hybrid's split (frequency, triple with its
medium prompt and fine σ, or grey / colour). `VIEWS` is the one list of views the app offers,
`FAILURE_VIEWS` the paper's failure views, offered in their own group of each view list
(`fill_view_box`) with a warning line when one is chosen. `Suggested` anagrams (measured to work
on the loaded model, given as plain settings dicts) set the prompts and views in one click.

No engine or app import: the keys of `settings()` match app.jobs.Job's fields.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QStandardItemModel
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QLabel,
    QSizePolicy,
    QSpinBox,
    QWidget,
)

VIEWS = [
    ("flip", "flip (upside down)"),
    ("mirror", "mirror (left-right)"),
    ("rot90", "rot90"),
    ("rot180", "rot180"),
    ("rot270", "rot270"),
    ("transpose", "transpose"),
    ("negate", "negate (colours)"),
    ("jigsaw", "jigsaw (4 × 4 pieces)"),
    ("patches", "patches (8 × 8 shuffled)"),
    ("pixels", "pixels (all shuffled)"),
    ("inner-circle", "inner circle (turned half round)"),
    ("square-hinge", "square hinge (3 × 3 turned)"),
    ("skew", "skew (the circle's columns rolled)"),
]
# linear maps that are no permutation (engine.views.FAILURES): they break the noise's i.i.d.-ness
FAILURE_VIEWS = [
    ("blur", "blur (Gaussian)"),
    ("white-balance", "white balance (a gain per channel)"),
    ("inner-circle-interp", "inner circle (turned 45° by interpolation)"),
]
FAILURE_KEYS = tuple(key for key, _ in FAILURE_VIEWS)
FAILURE_GROUP = "Failure views (to see why they fail)"
FAILURE_WARNING = ("⚠ A failure view: it is no permutation of the pixels, so the noise the model "
                   "sees is no longer i.i.d. and the anagram is expected to fail. It runs anyway, "
                   "to show why (Visual Anagrams' failure cases).")
SUGGESTED_PLACEHOLDER = "Pick a measured anagram…"
SEEDED = ("jigsaw", "patches", "pixels")
SPLITS = [("frequency", "low / high pass"), ("triple", "low / medium / high pass"),
          ("colour", "grey / colour (RGB models)")]
NONE = ""  # no further view: the anagram stops here
MAX_SEED = 2**31 - 1


def fill_view_box(box: QComboBox) -> None:
    """The views, then a 'Failure views' heading (not selectable) and the failure views."""
    for key, label in VIEWS:
        box.addItem(label, key)
    box.insertSeparator(box.count())
    box.addItem(FAILURE_GROUP)
    model = box.model()
    if isinstance(model, QStandardItemModel):
        heading = model.item(box.count() - 1)
        heading.setEnabled(False)
        heading.setSelectable(False)
    for key, label in FAILURE_VIEWS:
        box.addItem(f"  {label}", key)
        box.setItemData(box.count() - 1, FAILURE_WARNING, Qt.ItemDataRole.ToolTipRole)


class IllusionOptions(QWidget):
    """Rows shown for anagrams (prompts 3 and 4 with their views, the view seed) or hybrids
    (the split, the medium prompt, the fine σ); `make_prompt_box` makes the panel's prompt box."""

    changed = Signal()
    presetChosen = Signal(dict)  # a suggested anagram's settings (the panel's apply_settings)

    def __init__(self, make_prompt_box: Callable[[QWidget], QComboBox],
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.prompt3, self.prompt4 = make_prompt_box(self), make_prompt_box(self)
        self.view3, self.view4 = self._view_box(), self._view_box()
        self.view_seed = QSpinBox(self, minimum=0, maximum=MAX_SEED)
        self.view_seed.setToolTip("Draws the jigsaw, patches and pixels permutations")
        self.split = QComboBox(self)
        for key, label in SPLITS:
            self.split.addItem(label, key)
        self.medium = make_prompt_box(self)
        self.sigma2 = QDoubleSpinBox(self, minimum=0.0, maximum=20.0, singleStep=0.25,
                                     decimals=2)
        self.sigma2.setSpecialValueText("auto")
        self.sigma2.setToolTip("The fine blur that splits the medium band from the high one "
                               "(auto: half the blur σ)")
        self.suggested = QComboBox(self)
        self.suggested.setToolTip("Anagrams measured to work on this model (docs/benchmarks.md, "
                                  "alignment A over 50 seeds): one click sets the prompts and "
                                  "views")
        self.failure_note = QLabel(FAILURE_WARNING, self, wordWrap=True)
        self.failure_note.setStyleSheet("QLabel { color: #b35900; }")
        self.failure_note.setSizePolicy(QSizePolicy.Policy.Ignored,
                                        QSizePolicy.Policy.Preferred)
        self._main_view: QComboBox | None = None
        self._form = QFormLayout(self)
        self._form.setContentsMargins(0, 0, 0, 0)
        self._form.addRow("", self.failure_note)  # under the panel's View row
        self._form.addRow("Suggested", self.suggested)
        for label, widget in (("Prompt 3", self.prompt3), ("View 3", self.view3),
                              ("Prompt 4", self.prompt4), ("View 4", self.view4),
                              ("View seed", self.view_seed), ("Split", self.split),
                              ("Medium", self.medium), ("Fine σ2", self.sigma2)):
            self._form.addRow(label, widget)
        self._mode = "anagram"
        self.set_suggested(None)
        self.suggested.currentIndexChanged.connect(self._on_suggested)
        for signal in (self.view3.currentIndexChanged, self.view4.currentIndexChanged,
                       self.split.currentIndexChanged):
            signal.connect(self._show_rows)
        for signal in (self.view3.currentIndexChanged, self.view4.currentIndexChanged,
                       self.split.currentIndexChanged, self.view_seed.valueChanged,
                       self.sigma2.valueChanged, self.prompt3.currentTextChanged,
                       self.prompt4.currentTextChanged, self.medium.currentTextChanged):
            signal.connect(self.changed)
        self._show_rows()

    def _view_box(self) -> QComboBox:
        box = QComboBox(self)
        box.addItem("(none)", NONE)
        fill_view_box(box)
        return box

    def watch_view(self, box: QComboBox) -> None:
        """The panel's own view list: a failure view chosen there shows the warning too."""
        self._main_view = box
        box.currentIndexChanged.connect(self._show_rows)

    # --- suggested anagrams -------------------------------------------------------------------
    def set_suggested(self, presets: list[dict[str, Any]] | None) -> None:
        """The loaded model's measured anagrams (settings dicts with a 'label'); none: the row
        is hidden."""
        self.suggested.blockSignals(True)
        self.suggested.clear()
        self.suggested.addItem(SUGGESTED_PLACEHOLDER, None)
        for preset in presets or []:
            self.suggested.addItem(str(preset.get("label", "")), dict(preset))
        self.suggested.blockSignals(False)
        self._show_rows()

    def _on_suggested(self, index: int) -> None:
        preset = self.suggested.itemData(index)
        if not isinstance(preset, dict):
            return
        self.presetChosen.emit({k: v for k, v in preset.items() if k != "label"})
        self.suggested.blockSignals(True)
        self.suggested.setCurrentIndex(0)  # a one-shot pick: later edits are the user's
        self.suggested.blockSignals(False)

    def chosen_views(self) -> tuple[str, ...]:
        """Every view of the anagram: the panel's own, then the further ones."""
        first = self._main_view.currentData() if self._main_view is not None else None
        return ((str(first),) if first else ()) + self.more_views()

    def failure_chosen(self) -> bool:
        return any(v in FAILURE_KEYS for v in self.chosen_views())

    # --- the model and the mode ---------------------------------------------------------------
    def set_choices(self, choices: list[str] | None, default: str, symmetric: bool) -> None:
        for box in (self.prompt3, self.prompt4, self.medium):
            box.set_choices(choices, default)
        for box in (self.view3, self.view4):
            model, index = box.model(), box.findData("negate")
            if isinstance(model, QStandardItemModel) and index >= 0:
                model.item(index).setEnabled(symmetric)
                if not symmetric and box.currentIndex() == index:
                    box.setCurrentIndex(0)

    def set_words(self, words: list[str] | None) -> None:
        """A model's vocabulary: prompts 3 and 4 and the medium prompt complete from it, as the
        panel's own two do."""
        for box in (self.prompt3, self.prompt4, self.medium):
            set_words = getattr(box, "set_words", None)  # a PromptBox; a plain combo has none
            if set_words is not None:
                set_words(words)

    def set_mode(self, mode: str) -> None:
        self._mode = mode
        self._show_rows()

    def _show_rows(self) -> None:
        anagram, hybrid = self._mode == "anagram", self._mode == "hybrid"
        third = anagram and self.view3.currentData() != NONE
        triple = hybrid and self.split.currentData() == "triple"
        shown = {self.view3: anagram, self.prompt3: third, self.view4: third,
                 self.prompt4: third and self.view4.currentData() != NONE,
                 self.view_seed: anagram, self.split: hybrid, self.medium: triple,
                 self.sigma2: triple, self.suggested: anagram and self.suggested.count() > 1,
                 self.failure_note: anagram and self.failure_chosen()}
        for widget, visible in shown.items():
            self._form.setRowVisible(widget, visible)

    # --- settings -----------------------------------------------------------------------------
    def more_views(self) -> tuple[str, ...]:
        """The anagram's views after the panel's own, up to the first '(none)'."""
        out = []
        for box in (self.view3, self.view4):
            if box.currentData() == NONE:
                break
            out.append(str(box.currentData()))
        return tuple(out)

    def settings(self, mode: str) -> dict[str, Any]:
        if mode == "anagram":
            views = self.more_views()
            prompts = (self.prompt3.prompt(), self.prompt4.prompt())[:len(views)]
            # a failure view is only on offer under its warning: choosing it is knowing it
            return {"more_prompts": prompts, "more_views": views,
                    "view_seed": self.view_seed.value(),
                    "allow_failure_views": self.failure_chosen()}
        if mode == "hybrid":
            split = str(self.split.currentData())
            return {"split": split, "sigma2": self.sigma2.value() or None,
                    "more_prompts": (self.medium.prompt(),) if split == "triple" else ()}
        return {}

    def apply_settings(self, p: dict[str, Any]) -> None:
        """An earlier run's parameters: its further prompts and views, seed and split."""
        views, prompts = p.get("views"), p.get("prompts")
        if p.get("mode") == "anagram":
            more = list(views[1:]) if isinstance(views, list) else []
            extra = list(prompts[2:]) if isinstance(prompts, list) else []
            for i, (box, prompt_box) in enumerate(((self.view3, self.prompt3),
                                                   (self.view4, self.prompt4))):
                index = box.findData(more[i]) if i < len(more) else 0
                box.setCurrentIndex(max(index, 0))
                if i < len(extra) and isinstance(extra[i], str):
                    prompt_box.set_prompt(extra[i])
        if isinstance(p.get("view_seed"), int):
            self.view_seed.setValue(p["view_seed"])
        if p.get("mode") == "hybrid":
            index = self.split.findData(p.get("split") or "frequency")
            self.split.setCurrentIndex(max(index, 0))
            if isinstance(p.get("prompt3"), str):
                self.medium.set_prompt(p["prompt3"])
            if isinstance(p.get("sigma2"), int | float):
                self.sigma2.setValue(p["sigma2"])
        self._show_rows()

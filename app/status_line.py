"""The status bar's permanent part: zoom, the model loaded, the engine's state, the run's
progress and its time left."""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import Qt
from PySide6.QtGui import QResizeEvent
from PySide6.QtWidgets import QLabel, QProgressBar, QSizePolicy, QStatusBar, QWidget

from app.session.model_state import ModelState

SHORT_REASON = 48  # characters of why no model loaded, so the bar keeps room for messages

STATE_TEXT = {"loading": "Loading model…", "idle": "Idle", "running": "Running",
              "upscaling": "Upscaling (stage II)"}
NO_MODEL_STYLE = "QLabel { color: #c0392b; font-weight: bold; }"
STEP_FORMAT = "step %v / %m"


@dataclass(frozen=True)
class BarState:
    """What the progress bar shows, to be put back (`StatusLine.restore`)."""

    text: str  # the format
    text_visible: bool
    maximum: int
    value: int
    eta: str


class MessageLabel(QLabel):
    """The bar's message in its own stretch, cut with "…" where it is too long (the full text
    is its tooltip), so it never runs into the zoom label beside it."""

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self._full = ""
        self.setMinimumWidth(40)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.setTextFormat(Qt.TextFormat.PlainText)

    def show_message(self, text: str) -> None:
        self._full = text
        self.setToolTip(text)
        self._elide()

    def full_text(self) -> str:
        return self._full

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 - Qt's name
        super().resizeEvent(event)
        self._elide()

    def _elide(self) -> None:
        self.setText(self.fontMetrics().elidedText(self._full, Qt.TextElideMode.ElideRight,
                                                   max(self.width() - 8, 0)))


class StatusLine:
    """The labels and the progress bar, added to `bar` (left to right)."""

    def __init__(self, bar: QStatusBar) -> None:
        self.message_label = MessageLabel(bar)  # first and stretched: the bar paints no text
        self.model_label = QLabel(bar)
        self.state_label = QLabel("Idle", bar)
        self.state_label.setMinimumWidth(110)
        self.progress_bar = QProgressBar(bar)
        self.progress_bar.setFixedWidth(220)
        self.progress_bar.setFormat(STEP_FORMAT)
        self.progress_bar.setTextVisible(False)
        self.eta_label = QLabel(bar)
        self.eta_label.setMinimumWidth(80)
        self.zoom_label = QLabel(bar)
        self.zoom_label.setMinimumWidth(60)
        self.zoom_label.setToolTip("Canvas zoom (View ▸ Zoom in / out / Fit / 100%)")
        self.started()
        bar.addPermanentWidget(self.message_label, 1)
        bar.messageChanged.connect(self.message_label.show_message)
        for widget in (self.zoom_label, self.model_label, self.state_label, self.progress_bar,
                       self.eta_label):
            bar.addPermanentWidget(widget)

    def show_zoom(self, zoom: float) -> None:
        self.zoom_label.setText(f"{zoom * 100:.0f}%")

    def show_model(self, state: ModelState) -> None:
        self.model_label.setStyleSheet("")
        self.model_label.setToolTip(state.spec)
        self.model_label.setText(f"Model: {state.describe()}")

    def show_no_model(self, reason: str) -> None:
        short = reason.split(";")[0].split(" from ")[0].split(": ")[0]  # all of it: tooltip
        if len(short) > SHORT_REASON:
            short = short[:SHORT_REASON - 1].rstrip() + "…"
        self.model_label.setText(f"No model loaded ({short}). Use the Model menu")
        self.model_label.setToolTip(reason)
        self.model_label.setStyleSheet(NO_MODEL_STYLE)

    def show_state(self, state: str, busy_text: str = "", loading: str = "",
                   queued: int = 0) -> None:
        """The engine's state; `busy_text` (training runs) stands in for "Idle", `loading`
        names the model on its way, and `queued` runs wait behind the one running."""
        if state == "loading" and loading:
            text = f"Loading {loading}…"
        else:
            text = state == "idle" and busy_text or STATE_TEXT.get(state, state)
        self.state_label.setText(f"{text} · {queued} queued" if queued else text)

    def started(self) -> None:
        self.progress_bar.setFormat(STEP_FORMAT)
        self.progress_bar.setRange(0, 1)
        self.progress_bar.setValue(0)

    def progress(self, step: int, total: int, eta: float) -> None:
        self.progress_bar.setTextVisible(True)
        self.progress_bar.setFormat(STEP_FORMAT)
        self.progress_bar.setRange(0, max(total, 1))
        self.progress_bar.setValue(step)
        self.eta_label.setText(f"ETA {eta:.0f} s" if step < total else "")

    def bar_state(self) -> BarState:
        bar = self.progress_bar
        return BarState(bar.format(), bar.isTextVisible(), bar.maximum(), bar.value(),
                        self.eta_label.text())

    def restore(self, state: BarState) -> None:
        """The bar as it was in `state` (before a Live run that was cancelled)."""
        bar = self.progress_bar
        bar.setFormat(state.text)
        bar.setTextVisible(state.text_visible)
        bar.setRange(0, state.maximum)
        bar.setValue(state.value)
        self.eta_label.setText(state.eta)

    def ended(self, cancelled: bool = False) -> None:
        if cancelled:  # not "step 0 / 9": the bar says what happened
            self.progress_bar.setValue(0)
            self.progress_bar.setFormat("Cancelled")
        self.eta_label.setText("")

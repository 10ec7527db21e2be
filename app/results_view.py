"""The result shown beside the canvas (a history entry, or the latest Live run) with its
actions, and below it the region as the model sees it."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from app import actions as action_table
from app.history import Result
from app.qt_images import scaling_for
from widgets.scrolling import scroll_vertically

RESULT_SIDE = 240
USE_AS_INPUT = "Apply and edit further"  # not "Use as input": it applies too, which it hid
INPUT_SIDE = 112  # the model's view of the region, beside the result


def result_caption(params: dict) -> str:
    """'sample  prompt 'red heart'  seed 3'; an illusion names each of its prompts (with its
    view, or its band) and where to see it work."""
    what = params.get("mode") or params.get("command", "")
    prompts = list(params.get("prompts") or [params.get("prompt"), params.get("prompt2")])
    if what == "anagram":
        views = ["upright", *(params.get("views") or [params.get("view")])]
        named = "  ".join(f"{v} {p!r}" for v, p in zip(views, prompts, strict=False))
        return f"anagram  {named}  seed {params.get('seed')}  (View ▸ View illusion…)"
    if what == "hybrid":
        bands = ("far", "close") if len(prompts) < 3 else ("far", "close", "medium")
        named = "  ".join(f"{b} {p!r}" for b, p in zip(bands, prompts, strict=False))
        return f"hybrid  {named}  seed {params.get('seed')}  (View ▸ View illusion…)"
    prompt = params.get("prompt")
    prompt_text = "(unconditional)" if prompt == "" else repr(prompt)
    guidance = params.get("guidance")
    unguided = ("  guidance 0: the prompt is ignored" if guidance is not None and prompt
                and float(guidance) == 0 else "")
    return f"{what}  prompt {prompt_text}  seed {params.get('seed')}{unguided}"


def live_steps_text(steps: int | None) -> str:
    """What a Live caption says of the schedule Live ran on (coarser than Run's)."""
    return f" (Live: {steps} steps)" if steps and steps > 0 else ""


class ResultsView(QWidget):
    """The result shown (a history entry, or the latest Live run), with its actions."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        body = QWidget(self)  # scrolls: the column never sets the window's least height
        self._build(body)
        self._lay_out(body)
        scroll_vertically(self, body)

    def _build(self, body: QWidget) -> None:
        self.title = QLabel("<b>Result</b>", body)
        self._had_result = False  # until one is shown, an empty view says how to make one
        self.image_label = QLabel(self._empty_text(), body)
        self.image_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.image_label.setFixedSize(RESULT_SIDE, RESULT_SIDE)
        self.image_label.setStyleSheet("QLabel { background: #2b2b2e; color: #aaa; }")
        self.caption = QLabel(body)
        self.caption.setWordWrap(True)
        self.caption.setFixedWidth(RESULT_SIDE)
        self.apply_button = QPushButton("Apply to canvas", body, enabled=False)
        self.apply_button.setToolTip("Paste the result into the region (undoable)")
        self.input_button = QPushButton(USE_AS_INPUT, body, enabled=False)
        self.input_button.setToolTip("Paste the result into the region as the next run's input "
                                     "(from Sample, the mode becomes SDEdit)")
        self.export_button = QPushButton("Export…", body, enabled=False)
        self.export_button.setToolTip("PNG at model size or larger, or the denoising frames "
                                      f"({action_table.key_text('export')})")
        self.keep_button = QPushButton("Keep", body, enabled=False)
        self.keep_button.setToolTip("Keep this Live result in the history")
        self.keep_button.hide()
        self.input_title = QLabel("<b>What the model sees</b>", body)
        self.input_view = QLabel(body)
        self.input_view.setFixedSize(INPUT_SIDE, INPUT_SIDE)
        self.input_view.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.input_view.setStyleSheet("QLabel { background: #2b2b2e; }")
        self.input_caption = QLabel(body)
        self.input_caption.setWordWrap(True)
        self.input_caption.setFixedWidth(RESULT_SIDE)

    def _lay_out(self, body: QWidget) -> None:
        layout = QVBoxLayout(body)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.title)
        layout.addWidget(self.image_label)
        layout.addWidget(self.caption)
        layout.addWidget(self.apply_button)
        layout.addWidget(self.input_button)
        row = QHBoxLayout()  # Keep sits beside Export: a Live result fits in the same height
        row.setSpacing(layout.spacing())
        row.addWidget(self.export_button)
        row.addWidget(self.keep_button)
        layout.addLayout(row)
        layout.addSpacing(8)
        for widget in (self.input_title, self.input_view, self.input_caption):
            layout.addWidget(widget)
        layout.addStretch(1)

    def show_model_input(self, image: QImage | None, caption: str) -> None:
        """The region as the model gets it: its size, its channels."""
        if image is None:
            self.input_view.clear()
        else:
            side = INPUT_SIDE - 4
            self.input_view.setPixmap(QPixmap.fromImage(image).scaled(
                side, side, Qt.AspectRatioMode.KeepAspectRatio, scaling_for(image)))
        self.input_caption.setText(caption)

    def show_image(self, image: QImage) -> None:
        side = RESULT_SIDE - 8
        pixmap = QPixmap.fromImage(image).scaled(
            side, side, Qt.AspectRatioMode.KeepAspectRatio, scaling_for(image))
        self.image_label.setPixmap(pixmap)

    def _empty_text(self) -> str:
        if self._had_result:
            return "No result selected."
        return (f"No result yet.\nDraw something, pick a mode,\nthen Run "
                f"({action_table.key_text('run')}).")

    def show_live_preview(self, image: QImage, steps: int | None = None) -> None:
        """A Live run's estimate on its way: not a result yet, so nothing acts on it (the
        buttons would act on the result shown before it). `steps`: its schedule's."""
        self.show_image(image)
        self.title.setText("<b>Live preview</b>")
        self.caption.setText(f"The estimate so far{live_steps_text(steps)}: a result once "
                             "the run ends")
        for button in (self.apply_button, self.input_button, self.export_button,
                       self.keep_button):
            button.setEnabled(False)
        self.keep_button.show()

    def show_result(self, result: Result | None, live: bool = False) -> None:
        for button in (self.apply_button, self.input_button, self.export_button):
            button.setEnabled(result is not None)
        self.keep_button.setVisible(live)
        self.keep_button.setEnabled(live and result is not None)
        self.title.setText("<b>Live result</b>" if live else "<b>Result</b>")
        if result is None:
            self.image_label.clear()
            self.image_label.setText(self._empty_text())
            self.caption.clear()
            return
        self._had_result = True
        self.show_image(result.image)
        # kept in the history or not, a Live run's says its steps
        self.caption.setText(result_caption(result.parameters) + live_steps_text(
            result.live_steps()))

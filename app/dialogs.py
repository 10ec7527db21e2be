"""The dialogs of the app: New, Export, and the real answers to the session's questions
(app/session/asker.py) through QMessageBox and QFileDialog."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QSize
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QMessageBox,
    QSpinBox,
    QWidget,
)

from app.autosave import Recovery
from app.history import Result
from app.qt_images import BLACK, WHITE
from app.session.asker import EXPORT_KINDS, EXPORT_SCALES, ExportChoice


def keep_title_whole(dialog: QWidget) -> None:
    """Wide enough that the window manager never cuts the title (its buttons take ~150 px)."""
    title = dialog.fontMetrics().horizontalAdvance(dialog.windowTitle())
    dialog.setMinimumWidth(max(dialog.minimumWidth(), round(title * 1.3) + 150, 300))


def _ok_cancel(dialog: QDialog) -> QDialogButtonBox:
    buttons = QDialogButtonBox(
        QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel, dialog)
    buttons.accepted.connect(dialog.accept)
    buttons.rejected.connect(dialog.reject)
    return buttons


class NewDialog(QDialog):
    """Size and background of a new document."""

    def __init__(self, parent: QWidget | None, size: QSize, black: bool) -> None:
        super().__init__(parent)
        self.setWindowTitle("New image")
        keep_title_whole(self)
        self.width_box = QSpinBox(self, minimum=8, maximum=8192, value=size.width(), suffix=" px")
        self.height_box = QSpinBox(self, minimum=8, maximum=8192, value=size.height(),
                                   suffix=" px")
        self.background = QComboBox(self)
        self.background.addItem("Black", BLACK)
        self.background.addItem("White", WHITE)
        self.background.setCurrentIndex(0 if black else 1)
        form = QFormLayout(self)
        form.addRow("Width", self.width_box)
        form.addRow("Height", self.height_box)
        form.addRow("Background", self.background)
        form.addRow(_ok_cancel(self))

    def choice(self) -> tuple[int, int, QColor]:
        return self.width_box.value(), self.height_box.value(), self.background.currentData()


class ExportDialog(QDialog):
    """The result as a PNG (×1, ×4, ×8; nearest or bicubic) or its frames as GIF / APNG."""

    def __init__(self, parent: QWidget | None, has_frames: bool) -> None:
        super().__init__(parent)
        self.setWindowTitle("Export result")
        keep_title_whole(self)
        self.kind = QComboBox(self)
        for key, label in EXPORT_KINDS:
            self.kind.addItem(label, key)
            if key != "png" and not has_frames:
                self.kind.model().item(self.kind.count() - 1).setEnabled(False)
        self.scale = QComboBox(self)
        for factor in EXPORT_SCALES:
            self.scale.addItem(f"×{factor}" + ("  (model size)" if factor == 1 else ""), factor)
        self.resample = QComboBox(self)
        self.resample.addItem("Nearest (crisp pixels)", "nearest")
        self.resample.addItem("Bicubic (smooth)", "bicubic")
        form = QFormLayout(self)
        form.addRow("Export", self.kind)
        form.addRow("Scale", self.scale)
        form.addRow("Resampling", self.resample)
        form.addRow(_ok_cancel(self))
        self.kind.currentIndexChanged.connect(self._on_kind)

    def _on_kind(self) -> None:
        png = self.kind.currentData() == "png"
        self.resample.setEnabled(png)  # the scale applies to frames too (square pixels)

    def choice(self) -> ExportChoice:
        return ExportChoice(str(self.kind.currentData()), int(self.scale.currentData()),
                            str(self.resample.currentData()))


def unsaved_question(name: str, action: str) -> str:
    """Save writes a project, never the image a document was opened from: say so for one."""
    if Path(name).suffix:
        return f"Save your work on {name} as a project before {action}?"
    return f"Save the changes to {name} before {action}?"


class DialogAsker:
    """The session's questions (app.session.asker.Asker) as real dialogs; tests pass a
    subclass that answers."""

    def unsaved_changes(self, parent: Any, name: str, action: str = "closing",
                        detail: str = "") -> str:
        """"save", "discard" or "cancel"; `action` is what would lose the changes."""
        buttons = (QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Discard
                   | QMessageBox.StandardButton.Cancel)
        box = QMessageBox(QMessageBox.Icon.Question, "Unsaved changes",
                          unsaved_question(name, action), buttons, parent)
        box.setInformativeText(detail)
        box.setDefaultButton(QMessageBox.StandardButton.Save)
        box.exec()
        answer = box.standardButton(box.clickedButton())
        return {QMessageBox.StandardButton.Save: "save",
                QMessageBox.StandardButton.Discard: "discard"}.get(answer, "cancel")

    def offer_recovery(self, parent: Any, recovery: Recovery) -> str:
        """"restore", "discard" or "later" (keep it, ask again next time)."""
        when = recovery.saved_at.strftime("%Y-%m-%d %H:%M")
        w, h = recovery.size
        box = QMessageBox(QMessageBox.Icon.Question, "Recover unsaved work",
                          f"Diffusion Canvas did not close cleanly last time.\nRestore the "
                          f"unsaved {w} × {h} image autosaved at {when}?", parent=parent)
        restore = box.addButton("Restore", QMessageBox.ButtonRole.AcceptRole)
        discard = box.addButton("Discard", QMessageBox.ButtonRole.DestructiveRole)
        box.addButton("Later", QMessageBox.ButtonRole.RejectRole)
        box.setDefaultButton(restore)
        box.exec()
        clicked = box.clickedButton()
        return "restore" if clicked is restore else "discard" if clicked is discard else "later"

    def open_damaged(self, parent: Any, problem: str, lost: list[str]) -> bool:
        """Whether to open what can be read of a damaged project."""
        missing = "; ".join(lost) if lost else "nothing that can be named"
        box = QMessageBox(QMessageBox.Icon.Warning, "Damaged project",
                          f"{problem}.\n\nWhat can be read of it can be opened instead "
                          f"(lost: {missing}). The file itself is left as it is: saving writes "
                          "a new one.", parent=parent)
        opened = box.addButton("Open what can be read", QMessageBox.ButtonRole.AcceptRole)
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(opened)
        box.exec()
        return box.clickedButton() is opened

    def save_path(self, parent: Any, title: str, start: str, filters: str) -> str:
        """A path to write, or "" if the user cancelled."""
        return QFileDialog.getSaveFileName(parent, title, start, filters)[0]

    def open_path(self, parent: Any, title: str, start: str, filters: str) -> str:
        """A path to read, or "" if the user cancelled."""
        return QFileDialog.getOpenFileName(parent, title, start, filters)[0]

    def folder(self, parent: Any, title: str, start: str) -> str:
        return QFileDialog.getExistingDirectory(parent, title, start)

    def export_choice(self, parent: Any, result: Result) -> ExportChoice | None:
        dialog = ExportDialog(parent, bool(result.frames))
        try:
            return dialog.choice() if dialog.exec() == QDialog.DialogCode.Accepted else None
        finally:
            dialog.deleteLater()

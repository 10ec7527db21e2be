"""A compact tool bar: tool, brush size, hardness, colour, mask feather, mask clear/invert.

It only emits signals; `attach(canvas)` wires it to a CanvasView both ways. Mask clear/invert
go to whoever owns the document (`clearMaskRequested`, `invertMaskRequested`).
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction, QActionGroup, QColor, QIcon, QPixmap
from PySide6.QtWidgets import (
    QColorDialog,
    QHBoxLayout,
    QLabel,
    QSlider,
    QSpinBox,
    QToolButton,
    QWidget,
)

from widgets.canvas import MAX_BRUSH, CanvasView, Tool
from widgets.rows import row_of

# (tool, label); their keys come from whoever builds the panel (the app's table of actions)
TOOLS = [
    (Tool.BRUSH, "Brush"),
    (Tool.ERASER, "Eraser"),
    (Tool.MASK, "Mask"),
    (Tool.MASK_ERASER, "Erase mask"),
    (Tool.REGION, "Region"),
]


class ToolOptions(QWidget):
    toolChanged = Signal(str)
    sizeChanged = Signal(int)
    hardnessChanged = Signal(float)
    featherChanged = Signal(float)
    colorChanged = Signal(QColor)
    clearMaskRequested = Signal()
    invertMaskRequested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(4, 2, 4, 2)
        self._group = QActionGroup(self)
        self.tool_actions: dict[str, QAction] = {}
        for tool, label in TOOLS:
            action = QAction(label, self, checkable=True)
            action.triggered.connect(lambda _=False, t=tool: self._on_tool(t.value))
            self._group.addAction(action)
            self.addAction(action)  # shortcuts work while the panel is in a window
            self.tool_actions[tool.value] = action
            button = QToolButton(self)
            button.setDefaultAction(action)
            layout.addWidget(button)
        self.tool_actions[Tool.BRUSH.value].setChecked(True)

        self._size = QSpinBox(self, minimum=1, maximum=MAX_BRUSH, value=24, suffix=" px")
        self._size.setToolTip("Brush size")
        self._size.valueChanged.connect(self.sizeChanged)
        self._hardness = self._slider("Hardness", 80, self.hardnessChanged)
        self._feather = self._slider("Feather", 50, self.featherChanged)
        self._size_group = row_of(self, QLabel("Size", self), self._size)
        self._hardness_group = self._labelled("Hardness", self._hardness)
        self._feather_group = self._labelled("Feather", self._feather)

        self._color = QColor(Qt.GlobalColor.black)
        self._color_button = QToolButton(self, toolTip="Brush colour")
        self._color_button.clicked.connect(self._pick_color)
        self._show_color()
        buttons = []
        for text, signal in (("Clear mask", self.clearMaskRequested),
                             ("Invert mask", self.invertMaskRequested)):
            button = QToolButton(self, text=text)
            button.clicked.connect(signal)
            buttons.append(button)
        self._mask_group = row_of(self, *buttons)
        # which options each tool shows: only the ones that change what it does
        self._groups = {
            Tool.BRUSH.value: (self._size_group, self._hardness_group, self._color_button),
            Tool.ERASER.value: (self._size_group, self._hardness_group),
            Tool.MASK.value: (self._size_group, self._feather_group, self._mask_group),
            Tool.MASK_ERASER.value: (self._size_group, self._feather_group, self._mask_group),
            Tool.REGION.value: (),
        }
        for widget in (self._size_group, self._hardness_group, self._feather_group,
                       self._color_button, self._mask_group):
            layout.addWidget(widget)
        layout.addStretch(1)
        self.setMinimumHeight(self.sizeHint().height())  # all shown: no tool makes it shorter
        self._show_options(Tool.BRUSH.value)

    def show_size_keys(self, keys: str) -> None:
        """Names the keys that change the brush size (the canvas handles them) in the tip."""
        self._size.setToolTip(f"Brush size ({keys})" if keys else "Brush size")

    def _labelled(self, text: str, slider: QSlider) -> QWidget:
        """A slider between its name and its value (in %)."""
        value = QLabel(self)
        value.setMinimumWidth(value.fontMetrics().horizontalAdvance("100%") + 4)
        slider.valueChanged.connect(lambda v: value.setText(f"{v}%"))
        value.setText(f"{slider.value()}%")
        return row_of(self, QLabel(text, self), slider, value)

    def _show_options(self, tool: str) -> None:
        shown = self._groups.get(tool, ())
        for widget in (self._size_group, self._hardness_group, self._feather_group,
                       self._color_button, self._mask_group):
            widget.setVisible(widget in shown)

    def visible_options(self) -> list[str]:
        """The names of the options shown now (for tests and the screenshot check)."""
        names = {"size": self._size_group, "hardness": self._hardness_group,
                 "feather": self._feather_group, "colour": self._color_button,
                 "mask": self._mask_group}
        return [name for name, widget in names.items() if not widget.isHidden()]

    def _on_tool(self, tool: str) -> None:
        self._show_options(tool)
        self.toolChanged.emit(tool)

    def _slider(self, tip: str, value: int, signal: Signal) -> QSlider:
        slider = QSlider(Qt.Orientation.Horizontal, self, minimum=0, maximum=100, value=value)
        slider.setToolTip(tip)
        slider.setMaximumWidth(120)
        slider.valueChanged.connect(lambda v: signal.emit(v / 100.0))
        return slider

    # --- setters: no signal back, so two-way binding cannot loop -------------------------------
    def set_tool(self, tool: str) -> None:
        self.tool_actions[Tool(tool).value].setChecked(True)
        self._show_options(Tool(tool).value)

    def set_size(self, size: int) -> None:
        self._size.blockSignals(True)
        self._size.setValue(int(size))
        self._size.blockSignals(False)

    def set_hardness(self, hardness: float) -> None:
        self._set_quietly(self._hardness, hardness)

    def set_feather(self, feather: float) -> None:
        self._set_quietly(self._feather, feather)

    def set_color(self, color: QColor) -> None:
        self._color = QColor(color)
        self._show_color()

    def color(self) -> QColor:
        return QColor(self._color)

    @staticmethod
    def _set_quietly(slider: QSlider, value: float) -> None:
        slider.blockSignals(True)
        slider.setValue(round(value * 100))
        slider.blockSignals(False)

    def _pick_color(self) -> None:
        color = QColorDialog.getColor(self._color, self, "Brush colour")
        if color.isValid():
            self.set_color(color)
            self.colorChanged.emit(QColor(color))

    def _show_color(self) -> None:
        swatch = QPixmap(16, 16)
        swatch.fill(self._color)
        self._color_button.setIcon(QIcon(swatch))

    def attach(self, canvas: CanvasView) -> None:
        """Keeps this panel and `canvas` in step, both ways."""
        self.set_tool(canvas.tool().value)
        self.set_size(canvas.brush_size())
        self.set_hardness(canvas.hardness())
        self.set_feather(canvas.feather())
        self.set_color(canvas.color())
        self.toolChanged.connect(canvas.set_tool)
        self.sizeChanged.connect(canvas.set_brush_size)
        self.hardnessChanged.connect(canvas.set_hardness)
        self.featherChanged.connect(canvas.set_feather)
        self.colorChanged.connect(canvas.set_color)
        canvas.toolChanged.connect(self.set_tool)
        canvas.brushSizeChanged.connect(self.set_size)

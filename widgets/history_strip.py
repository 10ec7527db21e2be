"""A horizontal strip of result thumbnails, with a tooltip and a context menu for each.

The strip only shows thumbnails and asks for things through signals; the window owns the
results (app.history) and decides what apply, use-as-input, export and remove mean. Indices
are positions in the strip, which mirrors the history's order.

Small images (a 28 x 28 digit) are scaled up by a whole factor with nearest neighbour, so their
pixels stay crisp squares; larger ones are scaled down smoothly.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from PySide6.QtCore import QPoint, QSize, Qt, Signal
from PySide6.QtGui import (
    QAction,
    QIcon,
    QImage,
    QKeyEvent,
    QKeySequence,
    QPainter,
    QPaintEvent,
    QPixmap,
)
from PySide6.QtWidgets import QListView, QListWidget, QListWidgetItem, QMenu, QVBoxLayout, QWidget

DEFAULT_THUMBNAIL = 96
HIDDEN_ROLE = Qt.ItemDataRole.UserRole + 1  # the menu actions an item does without
MENU_ACTIONS = (  # (object name, text); the object name is also the signal's name
    ("applyRequested", "Apply to canvas"),
    ("useAsInputRequested", "Apply and edit further"),
    ("exportRequested", "Export…"),
    ("viewRequested", "View illusion…"),
    ("upscaleRequested", "Upscale ×4"),
    ("removeRequested", "Remove"),
)


def thumbnail(image: QImage, side: int) -> QPixmap:
    """`image` fitted in `side` x `side`: up by a whole factor (nearest) or down (smooth)."""
    if image.isNull():
        return QPixmap(side, side)
    longest = max(image.width(), image.height())
    if longest <= side:
        factor = side // longest
        scaled = image.scaled(image.width() * factor, image.height() * factor,
                              Qt.AspectRatioMode.IgnoreAspectRatio,
                              Qt.TransformationMode.FastTransformation)
    else:
        scaled = image.scaled(side, side, Qt.AspectRatioMode.KeepAspectRatio,
                              Qt.TransformationMode.SmoothTransformation)
    return QPixmap.fromImage(scaled)


EMPTY_TEXT = ("Results appear here. Click one to show it, double-click to apply it to the "
              "canvas, right-click for more.")


class _List(QListWidget):
    """The list itself; a remove key (`remove_keys`) asks to remove the current item; a hint
    while it is empty."""

    deletePressed = Signal()
    remove_keys: frozenset[int] = frozenset()  # key codes, set by HistoryStrip.set_keys

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 (Qt's name)
        super().paintEvent(event)
        if self.count() == 0:
            painter = QPainter(self.viewport())
            painter.setPen(self.palette().placeholderText().color())
            painter.drawText(self.viewport().rect().adjusted(12, 0, -12, 0),
                             Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, EMPTY_TEXT)
            painter.end()

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 (Qt's name)
        if event.key() in self.remove_keys:
            self.deletePressed.emit()
            event.accept()
            return
        super().keyPressEvent(event)


class HistoryStrip(QWidget):
    """Thumbnails in a row; double-click or Enter applies, right-click offers the actions."""

    selected = Signal(int)
    applyRequested = Signal(int)
    useAsInputRequested = Signal(int)
    exportRequested = Signal(int)
    viewRequested = Signal(int)  # open the anagram / hybrid viewer
    upscaleRequested = Signal(int)  # run the model's upscaler on the result
    removeRequested = Signal(int)

    def __init__(self, parent: QWidget | None = None,
                 thumbnail_size: int = DEFAULT_THUMBNAIL) -> None:
        super().__init__(parent)
        self._side = int(thumbnail_size)
        # (visible, enabled, tooltip) per action; the upscaler's shows once a model has one
        self._action_states: dict[str, tuple[bool, bool, str]] = {
            "upscaleRequested": (False, False, "")}
        self._action_texts: dict[str, str] = {}  # texts that replace MENU_ACTIONS' own
        self.list_widget = self._make_list()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.list_widget)
        self.list_widget.currentRowChanged.connect(self._on_row_changed)
        self.list_widget.itemActivated.connect(
            lambda item: self.applyRequested.emit(self.list_widget.row(item)))
        self.list_widget.customContextMenuRequested.connect(self._on_context_menu)
        self.list_widget.deletePressed.connect(self._on_delete)

    def _make_list(self) -> _List:
        lw = _List(self)
        lw.setViewMode(QListView.ViewMode.IconMode)
        lw.setFlow(QListView.Flow.LeftToRight)
        lw.setWrapping(False)
        lw.setMovement(QListView.Movement.Static)
        lw.setResizeMode(QListView.ResizeMode.Adjust)
        lw.setUniformItemSizes(True)
        lw.setWordWrap(False)
        lw.setTextElideMode(Qt.TextElideMode.ElideRight)
        lw.setIconSize(QSize(self._side, self._side))
        text_h = lw.fontMetrics().height()
        lw.setGridSize(QSize(self._side + 12, self._side + text_h + 10))
        lw.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        lw.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        lw.setSelectionMode(QListWidget.SelectionMode.SingleSelection)
        lw.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        lw.setStyleSheet("QListView::item:selected { background: transparent; "
                         "border: 2px solid palette(highlight); color: palette(text); }")
        scrollbar = lw.style().pixelMetric(lw.style().PixelMetric.PM_ScrollBarExtent)
        lw.setFixedHeight(self._side + text_h + 10 + scrollbar + 2 * lw.frameWidth() + 4)
        return lw

    # --- contents ---------------------------------------------------------------------------
    def add(self, image: QImage, title: str, tooltip: str = "",
            hidden: tuple[str, ...] = (), index: int = -1) -> int:
        """Adds a thumbnail of `image` at `index` (-1: the end); returns where it went.
        `hidden` names the menu actions that do not apply to this one (e.g. "viewRequested"
        for a result that is no illusion)."""
        pixmap = thumbnail(image, self._side)
        icon = QIcon(pixmap)
        icon.addPixmap(pixmap, QIcon.Mode.Selected)  # the selection is framed, never tinted
        item = QListWidgetItem(icon, title)
        item.setToolTip(tooltip or title)
        item.setData(HIDDEN_ROLE, tuple(hidden))
        item.setSizeHint(self.list_widget.gridSize())
        count = self.list_widget.count()
        index = count if not 0 <= index < count else index
        self.list_widget.insertItem(index, item)
        self.list_widget.scrollToItem(item)
        return index

    def remove(self, index: int) -> None:
        """Removes thumbnail `index` (the history removed that result)."""
        if not 0 <= index < self.count():
            return
        was_current = index == self.current()
        # quietly: while it goes, the current row passes through a row that no longer exists
        self.list_widget.blockSignals(True)
        self.list_widget.takeItem(index)
        self.list_widget.blockSignals(False)
        if was_current and self.current() >= 0:
            self.selected.emit(self.current())

    def clear(self) -> None:
        # quietly: while the items go, the current row walks through rows that no longer exist
        self.list_widget.blockSignals(True)
        self.list_widget.clear()
        self.list_widget.blockSignals(False)

    def count(self) -> int:
        return self.list_widget.count()

    def title(self, index: int) -> str:
        return self.list_widget.item(index).text()

    def tooltip(self, index: int) -> str:
        return self.list_widget.item(index).toolTip()

    def current(self) -> int:
        """The selected index, -1 if none."""
        return self.list_widget.currentRow()

    def set_current(self, index: int) -> None:
        """Selects `index` (-1: none); emits `selected` if that changes the selection."""
        self.list_widget.setCurrentRow(index)
        if 0 <= index < self.count():
            self.list_widget.scrollToItem(self.list_widget.item(index))

    # --- requests ---------------------------------------------------------------------------
    def context_menu(self, index: int) -> QMenu:
        """The menu of actions for thumbnail `index` (shown on right-click; tests trigger it)."""
        menu = QMenu(self)
        item = self.list_widget.item(index)
        hidden = set(item.data(HIDDEN_ROLE) or ()) if item is not None else set()
        for name, text in MENU_ACTIONS:
            action = QAction(self._action_texts.get(name, text), menu)
            action.setObjectName(name)
            signal = getattr(self, name)
            action.triggered.connect(lambda _=False, s=signal: s.emit(index))
            state = self._action_states.get(name)
            if state is not None:
                action.setVisible(state[0])
                action.setEnabled(state[1])
                action.setToolTip(state[2])
            if name in hidden:
                action.setVisible(False)
            menu.addAction(action)
        menu.setToolTipsVisible(True)
        return menu

    def set_action_state(self, name: str, visible: bool, enabled: bool, tip: str = "",
                         text: str | None = None) -> None:
        """How the menu shows action `name` from now on (e.g. no upscaler: hidden or greyed);
        `text` replaces its label (the upscaler's factor), None keeps the one it has."""
        self._action_states[name] = (visible, enabled, tip)
        if text is not None:
            self._action_texts[name] = text

    def _on_context_menu(self, pos: QPoint) -> None:
        item = self.list_widget.itemAt(pos)
        if item is None:
            return
        index = self.list_widget.row(item)
        self.set_current(index)
        menu = self.context_menu(index)
        menu.exec(self.list_widget.viewport().mapToGlobal(pos))
        menu.deleteLater()

    def _on_row_changed(self, row: int) -> None:
        if row >= 0:
            self.selected.emit(row)

    def set_keys(self, keys: Mapping[str, Iterable[QKeySequence | str]]) -> None:
        """The keys the strip handles itself, by what they do: "remove" (the current result).
        The strip defines none; the app's table of actions gives them."""
        unknown = set(keys) - {"remove"}
        if unknown:
            raise ValueError(f"the history strip has no key action {sorted(unknown)}")
        self.list_widget.remove_keys = frozenset(
            QKeySequence(k)[0].key().value for k in keys.get("remove", ()))

    def _on_delete(self) -> None:
        if self.current() >= 0:
            self.removeRequested.emit(self.current())

"""The main window's layout: the canvas and the results side by side in the middle, and the
docks around them (tools above, modes left with the noise explorer and training tabbed beside
it, history below; explorer and training hidden until asked for). Both share the modes' column
so that opening one never takes width from the canvas (on the right, at 1280 px, training left
the canvas a 136 px strip and the explorer 270 px of 538). It builds and places; it binds
nothing.

    docks = build_layout(window, canvas=..., results=..., tools=..., modes=..., history=...,
                         explorer=..., training=...)
    docks["explorer"].show()
"""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QDockWidget, QMainWindow, QSplitter, QWidget

from app.results_view import RESULT_SIDE

DOCK_FEATURES = (QDockWidget.DockWidgetFeature.DockWidgetMovable
                 | QDockWidget.DockWidgetFeature.DockWidgetFloatable
                 | QDockWidget.DockWidgetFeature.DockWidgetClosable)
WINDOW_SIZE = (1280, 800)
Area = Qt.DockWidgetArea
# the docks: key (also its objectName, which the saved window state names), title, area
DOCKS = (("tools", "Tools", Area.TopDockWidgetArea),
         ("modes", "Modes", Area.LeftDockWidgetArea),
         ("history", "History", Area.BottomDockWidgetArea),
         ("explorer", "Noise explorer", Area.LeftDockWidgetArea),
         ("training", "Training", Area.LeftDockWidgetArea))


def add_dock(window: QMainWindow, title: str, name: str, widget: QWidget,
             area: Qt.DockWidgetArea) -> QDockWidget:
    """A movable, floatable, closable dock holding `widget`, added to `window` at `area`."""
    dock = QDockWidget(title, window)
    dock.setObjectName(name)
    dock.setWidget(widget)
    dock.setFeatures(DOCK_FEATURES)
    window.addDockWidget(area, dock)
    return dock


def build_layout(window: QMainWindow, canvas: QWidget, results: QWidget,
                 **widgets: QWidget) -> dict[str, QDockWidget]:
    """Puts `canvas` and `results` in a splitter as the central widget and each of `widgets`
    (keyed as DOCKS) in its dock; the docks by key."""
    splitter = QSplitter(Qt.Orientation.Horizontal, window)
    splitter.addWidget(canvas)
    splitter.addWidget(results)
    splitter.setStretchFactor(0, 1)
    splitter.setStretchFactor(1, 0)
    splitter.setSizes([800, RESULT_SIDE + 8])
    window.setCentralWidget(splitter)
    docks = {key: add_dock(window, title, key, widgets[key], area)
             for key, title, area in DOCKS}
    tools = docks["tools"]
    tools.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetClosable)
    tools.setTitleBarWidget(QWidget(tools))  # a slim bar, no title
    for key in ("explorer", "training"):
        tabbed = docks[key]
        window.tabifyDockWidget(docks["modes"], tabbed)
        tabbed.toggleViewAction().toggled.connect(  # shown: its tab comes to the front
            lambda shown, dock=tabbed: shown and QTimer.singleShot(0, dock.raise_))
    for key in ("explorer", "training"):
        docks[key].hide()
    window.resize(*WINDOW_SIZE)
    return docks

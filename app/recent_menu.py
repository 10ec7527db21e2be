"""File ▸ Open recent: one action per remembered file (most recent first, the first nine with
a number key), each opening it through the session, and "Clear recent files".

    fill_recent_menu(menu, session)   # again whenever session.recentChanged says so
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtWidgets import QMenu


def fill_recent_menu(menu: QMenu, session: Any) -> None:
    """Refills `menu` from `session.preferences.recent_files()`."""
    menu.clear()
    files = session.preferences.recent_files()
    for i, path in enumerate(files):
        action = menu.addAction(f"&{i + 1}  {Path(path).name}" if i < 9 else Path(path).name)
        action.setData(path)
        action.setToolTip(path)
        action.setStatusTip(path)
        action.triggered.connect(lambda _=False, p=path: session.open_recent(p))
    if files:
        menu.addSeparator()
        menu.addAction("Clear recent files").triggered.connect(session.clear_recent)
    else:
        menu.addAction("(no recent files)").setEnabled(False)
    menu.setToolTipsVisible(True)

"""app/drops.py on its own: what a drop or the clipboard hands the session, and the copy rule."""

from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QColor, QDropEvent, QImage

from app import drops


class Session:
    """Records what it is asked to open or paste; answers `accept`."""

    def __init__(self, accept: bool = True) -> None:
        self.accept, self.opened, self.pasted = accept, [], []

    def open_path(self, path: str) -> bool:
        self.opened.append(path)
        return self.accept

    def paste(self, image: QImage, text: str) -> bool:
        self.pasted.append((image, text))
        return self.accept


def image_data(side: int = 6) -> QMimeData:
    image = QImage(side, side, QImage.Format.Format_RGB32)
    image.fill(QColor(10, 200, 30))
    data = QMimeData()
    data.setImageData(image)
    return data


def test_a_local_file_is_opened_before_any_image(qapp, tmp_path):
    data = image_data()
    first, second = tmp_path / "a.png", tmp_path / "b.png"
    data.setUrls([QUrl("https://example.org/x.png"), QUrl.fromLocalFile(str(first)),
                  QUrl.fromLocalFile(str(second))])
    session = Session()
    assert drops.can_take(data)
    assert drops.take_mime(session, data, "Drop image")
    assert session.opened == [str(first)] and session.pasted == []


def test_an_image_is_pasted_with_the_undo_text(qapp):
    session = Session()
    assert drops.take_mime(session, image_data(6), "Paste")
    (image, text), = session.pasted
    assert (image.width(), image.height(), text) == (6, 6, "Paste")
    assert image.pixelColor(2, 3) == QColor(10, 200, 30)


def test_nothing_to_take_and_a_refusal_say_false(qapp):
    session = Session(accept=False)
    assert not drops.take_mime(session, None, "Paste")
    empty = QMimeData()
    empty.setUrls([QUrl("https://example.org/x.png")])
    assert not drops.can_take(empty)
    assert not drops.take_mime(session, empty, "Paste")
    assert session.opened == [] and session.pasted == []
    assert not drops.take_mime(session, image_data(), "Paste")  # the session said no
    assert len(session.pasted) == 1


def drop(actions: Qt.DropAction, data: QMimeData) -> QDropEvent:
    return QDropEvent(QPointF(1, 1), actions, data, Qt.MouseButton.LeftButton,
                      Qt.KeyboardModifier.NoModifier)


def test_a_drop_is_always_a_copy(qapp):
    data = image_data()
    offered = drop(Qt.DropAction.MoveAction | Qt.DropAction.CopyAction, data)
    assert drops.accept_as_copy(offered)
    assert offered.isAccepted() and offered.dropAction() == Qt.DropAction.CopyAction
    move_only = drop(Qt.DropAction.MoveAction, data)
    assert not drops.accept_as_copy(move_only)
    assert not move_only.isAccepted()

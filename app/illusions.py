"""The app side of the illusion viewer: a result's views (remade from its parameters, seeded
permutations included), the per-pixel motions that animate them, the scores that say whether
the illusion works, and the GIF the viewer exports. Qt is used only to move images in and out.
"""

from __future__ import annotations

import functools
import os
from typing import Any

import numpy as np
import torch
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QDialog, QMessageBox, QWidget

from app.qt_images import numpy_to_qimage, qimage_to_numpy, qimage_to_pil
from engine import images
from engine.errors import EngineError
from engine.illusion_scores import score
from engine.views import View, views_for
from widgets.illusion_viewers import AnagramViewer, HybridViewer

DIGITS = [str(d) for d in range(10)]
DIGIT_SIZE = 28
SMALLEST_STAGE_ONE = 32  # the emoji cascade's stage I


def anagram_names(p: dict[str, Any]) -> list[str]:
    """The views after the upright one, as the parameters chunk records them."""
    views = p.get("views")
    if isinstance(views, list) and views and all(isinstance(v, str) for v in views):
        return list(views)
    return [str(p.get("view") or "flip")]


def anagram_prompts(p: dict[str, Any]) -> list[str]:
    prompts = p.get("prompts")
    if isinstance(prompts, list) and all(isinstance(x, str) for x in prompts):
        return list(prompts)
    return [str(p.get("prompt") or ""), str(p.get("prompt2") or "")]


def stage_one_side(side: int, upscaled: bool) -> int:
    """The side a result was made at: an upscaled one came from stage I, four times smaller
    for DeepFloyd IF (64 -> 256 px), two for the emoji cascade (32 -> 64 px); no stage I is
    smaller than the emoji cascade's 32 px."""
    if not upscaled:
        return side
    for factor in (4, 2):
        if side % factor == 0 and side // factor >= SMALLEST_STAGE_ONE:
            return side // factor
    return side


def result_views(image: QImage, p: dict[str, Any]) -> list[View]:
    """identity + the result's views, defined on the size it was made at (a result upscaled
    by stage II is seen through the stage I views, scaled), with its recorded view seed."""
    base = stage_one_side(image.width(), bool(p.get("upscale")))
    seed = p.get("view_seed") if isinstance(p.get("view_seed"), int) else 0
    return views_for(anagram_names(p), base, symmetric_range=True, seed=seed)


def as_tensor(image: QImage) -> torch.Tensor:
    """[1, C, H, W] uint8 values as float (grey stays one channel), for exact permutations."""
    a = qimage_to_numpy(image)
    a = a[..., None] if a.ndim == 2 else a[..., :3]
    return torch.from_numpy(np.ascontiguousarray(a)).permute(2, 0, 1)[None].float()


def as_qimage(x: torch.Tensor) -> QImage:
    a = x[0].permute(1, 2, 0).round().clamp(0, 255).to(torch.uint8).numpy()
    return numpy_to_qimage(np.ascontiguousarray(a[..., 0] if a.shape[-1] == 1 else a))


@functools.lru_cache(maxsize=1)
def digit_judge():
    from engine.training.classifier import load_classifier, logits

    net = load_classifier()
    return lambda x: logits(net, x)


EMOJI_CLASSIFIER: str | None = None  # the emoji judge's folder (None: the bundled one)


@functools.lru_cache(maxsize=1)
def emoji_judge():
    """The bundled emoji classifier with its names (engine/training/emoji_judge.py), loaded
    once; EngineError saying why when it is missing or broken."""
    from engine.training.emoji_judge import load_emoji_judge

    return load_emoji_judge(EMOJI_CLASSIFIER)


def scores_line(image: QImage, views: list[View], prompts: list[str]) -> str:
    """Alignment and concealment (the Visual Anagrams metrics) by the digit classifier for a
    digit illusion, by the emoji classifier for an illusion whose every prompt names one of
    its emoji; otherwise why there is no score."""
    if image.width() == image.height() == DIGIT_SIZE and prompts and all(
            p in DIGITS for p in prompts):
        return digit_scores_line(image, views, prompts)
    return emoji_scores_line(image, views, prompts)


def digit_scores_line(image: QImage, views: list[View], prompts: list[str]) -> str:
    try:
        judge = digit_judge()
    except EngineError as error:
        return f"No scores: {error}"
    grey = as_tensor(image).mean(1, keepdim=True) / 255.0
    s = score(judge, grey, views, [int(p) for p in prompts])
    return (f"Alignment A = {s.alignment.item():.2f} (the worst view's probability of its own "
            f"digit) · concealment C = {s.concealment.item():.2f} (1 = each view shows only "
            f"its digit, {1 / len(views):.2f} = no difference) — by the digit classifier")


def emoji_scores_line(image: QImage, views: list[View], prompts: list[str]) -> str:
    """The scores by the emoji classifier, judged at its 32 px (a 64 px stage II result is
    area-averaged down, as the emoji benchmarks feed it), or why there are none."""
    try:
        judge = emoji_judge()
    except EngineError as error:
        return f"No scores: {error}"
    classes = [judge.class_of(p) for p in prompts]
    if not prompts or None in classes:
        unknown = prompts[classes.index(None)] if prompts else ""
        return (f"No scores: the prompt {unknown!r} is neither a digit of the digit classifier "
                "nor an emoji the emoji classifier knows (by its CLDR, Unicode or short name)")
    from engine.training.emoji_classifier import SIZE

    side = image.width()
    if side != image.height() or side % SIZE:
        return (f"No scores: the emoji classifier judges square images of a multiple of {SIZE} "
                f"px; this one is {image.width()}×{image.height()}")
    x = as_tensor(image) / 127.5 - 1.0  # the cascade's range, in which negate is a view

    def logits_of(v: torch.Tensor) -> torch.Tensor:
        return judge.logits(v.expand(-1, 3, -1, -1), (-1.0, 1.0))

    s = score(logits_of, x, views, classes)
    return (f"Alignment A = {s.alignment.item():.2f} (the worst view's probability of its own "
            f"emoji) · concealment C = {s.concealment.item():.2f} (1 = each view shows only "
            f"its emoji, {1 / len(views):.2f} = no difference) — by the emoji classifier")


def open_anagram_viewer(image: QImage, p: dict[str, Any], parent: QWidget | None,
                        asker: Any = None, preferences: Any = None) -> AnagramViewer:
    """The viewer for an anagram result: every view, its motion and its scores; its GIF export
    starts in the export folder `preferences` remember (app/settings.py), as every export."""
    views = result_views(image, p)
    x = as_tensor(image)
    seen = [(v.name, as_qimage(v.apply(x))) for v in views[1:]]
    n = image.width()
    motions = {v.name: v.motion(n).numpy() for v in views[1:] if v.motion(n) is not None}
    prompts = anagram_prompts(p)
    viewer = AnagramViewer(image, views[1].name, tuple(prompts), parent, views=seen,
                           motions=motions, scores=scores_line(image, views, prompts))
    if asker is not None:
        viewer.exportRequested.connect(lambda: export_gif(viewer, p, asker, preferences))
    return viewer


def export_gif(viewer: AnagramViewer, p: dict[str, Any], asker: Any,
               preferences: Any = None) -> str | None:
    """Asks where (from the last export folder), then writes the viewer's animation of every
    view with the parameters, remembers the folder and says where it went in the viewer's own
    line (as the sweep dialog does: the window's status bar is behind the viewer)."""
    start = "illusion.gif"
    if preferences is not None:
        start = os.path.join(preferences.last_folder("export"), start)
    path = asker.save_path(viewer, "Export the views as GIF", start, "GIF (*.gif)")
    if not path:
        return None
    if not path.lower().endswith(".gif"):
        path += ".gif"
    try:
        write_gif(viewer, os.fspath(path), p)
    except (EngineError, ValueError, OSError) as error:
        viewer.say("")
        say_failed(viewer, f"The GIF was not written: {error}")
        return None
    if preferences is not None:
        preferences.set_last_folder("export", path)
    viewer.say(f"Exported {path}")
    return path


def say_failed(viewer: QWidget, message: str) -> QMessageBox:
    """One non-blocking message over the viewer; the viewer stays as it was."""
    box = QMessageBox(QMessageBox.Icon.Warning, "Export failed", message,
                      QMessageBox.StandardButton.Ok, viewer)
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    box.open()
    return box


def write_gif(viewer: AnagramViewer, path: str, p: dict[str, Any]) -> None:
    frames = [qimage_to_pil(frame, "RGB") for frame in viewer.gif_frames()]
    images.save_frames(frames, path, duration_ms=60, parameters=p)


def open_illusion_viewer(image: QImage, p: dict[str, Any], parent: QWidget | None,
                         asker: Any = None, preferences: Any = None) -> QDialog:
    """The viewer of an illusion result: the anagram viewer (every view, motions and scores;
    raises EngineError when its views cannot be made) or the hybrid viewer."""
    if p["mode"] == "anagram":
        return open_anagram_viewer(image, p, parent, asker, preferences)
    prompts = (str(p.get("prompt") or ""), str(p.get("prompt2") or ""))
    return HybridViewer(image, prompts, parent)

"""Fake emoji-datasource tarballs (generated images, no download) for the emoji tests."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

from PIL import Image

from engine.training.emoji_data import EMOJIBASE, EMOJIBASE_VERSION, VENDORS, tarball_name

# (emoji.json entry, RGB colour of its square); the skin variant's colour must never be kept
SKIN_COLOUR = (10, 200, 30)


def _entry(name, image, category, subcategory, short_names, order, **extra):
    return {"name": name, "unified": image[:-4].upper(), "image": image,
            "short_name": short_names[0], "short_names": short_names, "category": category,
            "subcategory": subcategory, "sort_order": order, "has_img_google": True,
            "has_img_twitter": True, **extra}


ENTRIES = [
    (_entry("GRINNING FACE", "1f600.png", "Smileys & Emotion", "face-smiling", ["grinning"], 1),
     (250, 200, 0)),
    (_entry("WAVING HAND SIGN", "1f44b.png", "People & Body", "hand-fingers-open", ["wave"], 2,
            skin_variations={"1F3FB": {"unified": "1F44B-1F3FB", "image": "1f44b-1f3fb.png",
                                       "has_img_google": True, "has_img_twitter": True}}),
     (240, 180, 60)),
    (_entry("Egypt Flag", "1f1ea-1f1ec.png", "Flags", "country-flag", ["flag-eg"], 3),
     (200, 0, 0)),
    (_entry("KEYCAP 0", "0030-fe0f-20e3.png", "Symbols", "keycap", ["zero"], 4), (90, 90, 200)),
    (_entry("EMOJI MODIFIER FITZPATRICK TYPE-3", "1f3fc.png", "Component", "skin-tone",
            ["skin-tone-3"], 5), (200, 150, 100)),
    (_entry("ROCKET", "1f680.png", "Travel & Places", "transport-air", ["rocket"], 6,
            has_img_twitter=False), (120, 120, 120)),
]
KEPT = {"google": 5, "twemoji": 4}  # grinning, wave, flag, keycap; rocket for google only
# emojibase-data's en/data.json rows for them (hexcodes with FE0F where emojibase writes one);
# the keycap has none, so it keeps its Unicode name
CLDR = [
    {"label": "grinning face", "hexcode": "1F600", "tags": ["face", "grin", "happy", "smile"]},
    {"label": "waving hand", "hexcode": "1F44B", "tags": ["hand", "wave", "waving"]},
    {"label": "flag: Egypt", "hexcode": "1F1EA-1F1EC", "tags": ["flag"]},
    {"label": "rocket", "hexcode": "1F680", "tags": ["launch", "space", "rocket"]},
    {"label": "piñata", "hexcode": "1FA85", "tags": ["celebration", "party"]},
]


def png(colour: tuple[int, int, int], size: int = 64) -> bytes:
    """A transparent square image with an opaque coloured square in its middle."""
    im = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    q = size // 4
    im.paste((*colour, 255), (q, q, size - q, size - q))
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    return buf.getvalue()


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def write_tarball(path: Path, folder: str, hostile: bool = True) -> Path:
    """An emoji-datasource-like .tgz: package/emoji.json and package/img/<folder>/64/*.png,
    plus (hostile) members that try to escape the folder."""
    entries = [e for e, _ in ENTRIES]
    with tarfile.open(path, "w:gz") as tar:
        _add(tar, "package/emoji.json", json.dumps(entries).encode())
        for entry, colour in ENTRIES:
            _add(tar, f"package/img/{folder}/64/{entry['image']}", png(colour))
        _add(tar, f"package/img/{folder}/64/1f44b-1f3fb.png", png(SKIN_COLOUR))
        if hostile:
            _add(tar, "../escaped.png", png(SKIN_COLOUR))
            _add(tar, f"package/img/{folder}/64/../../../../escaped.png", png(SKIN_COLOUR))
            link = tarfile.TarInfo(f"package/img/{folder}/64/link.png")
            link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
            tar.addfile(link)
    return path


def write_emojibase(path: Path, rows: list | None = None) -> Path:
    """An emojibase-data-like .tgz holding package/en/data.json."""
    with tarfile.open(path, "w:gz") as tar:
        _add(tar, "package/en/data.json", json.dumps(CLDR if rows is None else rows).encode())
    return path


def write_cache(cache: Path) -> dict[str, Path]:
    """Both vendors' tarballs and emojibase-data's under the names `npm pack` gives them; the
    vendors' ones are returned."""
    cache.mkdir(parents=True, exist_ok=True)
    write_emojibase(cache / tarball_name(EMOJIBASE, EMOJIBASE_VERSION))
    return {style: write_tarball(cache / tarball_name(package), folder)
            for style, (package, folder, _) in VENDORS.items()}


def write_emoji_set(folder: Path, copies: int = 3) -> Path:
    """A small prepared set (the fake art, repeated) for training tests."""
    import numpy as np

    from engine.training import emoji_data

    cache = write_cache(folder.parent / f"{folder.name}-cache")
    cldr = emoji_data.read_emojibase(write_emojibase(folder.parent / f"{folder.name}-eb.tgz"))
    data = emoji_data.build_from_tarballs(cache, cldr)
    data = emoji_data.EmojiSet(np.concatenate([data.images] * copies),
                               data.entries * copies, data.source)
    emoji_data.write_set(data, folder)
    return folder


TINY_TRAINING = dict(shape="test", batch_size=4, sample_steps=2, num_threads=1, device="cpu",
                     warmup=2, save_every_s=None)


def train_tiny_cascade(emoji_set: Path, root: Path) -> Path:
    """Stage I and stage II trained one epoch at test size on `emoji_set`; returns a folder
    holding IF-I-emoji and IF-II-emoji side by side, as the bundle lays them out."""
    import shutil

    from engine.training.emoji_train import EmojiTrainConfig, train_emoji

    base = train_emoji(EmojiTrainConfig("base", str(emoji_set), epochs=1, **TINY_TRAINING),
                       root / "base", progress=False)
    up = train_emoji(EmojiTrainConfig("upscale", str(emoji_set), epochs=1,
                                      text_encoder=str(base.pipeline),
                                      **{**TINY_TRAINING, "shape": ""}),
                     root / "up", progress=False)
    bundle = root / "bundle"
    shutil.copytree(base.pipeline, bundle / "IF-I-emoji")
    shutil.copytree(up.pipeline, bundle / "IF-II-emoji")
    return bundle


def add_words(stage_one: Path, words: list[str]) -> None:
    """More words in a stage I folder's vocabulary (its tokenizer encodes any text)."""
    hints_path = stage_one / "diffusion_canvas.json"
    hints = json.loads(hints_path.read_text())
    hints["words"] = sorted(set(hints["words"]) | set(words))
    hints_path.write_text(json.dumps(hints))

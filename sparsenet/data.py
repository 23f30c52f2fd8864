"""MNIST and Fashion-MNIST from their original IDX files.

The IDX format
--------------
Both datasets ship as four IDX files per dataset (usually gzip-compressed)::

    train-images-idx3-ubyte   train-labels-idx1-ubyte     (60,000 examples)
    t10k-images-idx3-ubyte    t10k-labels-idx1-ubyte      (10,000 examples)

An IDX file is a big-endian header followed by raw data:

* a 4-byte magic number ``0x00 0x00 <type> <ndim>``; type ``0x08`` is unsigned
  byte, so images (3 dims) have magic ``0x00000803 = 2051`` and labels (1 dim)
  ``0x00000801 = 2049``;
* ``ndim`` big-endian uint32 sizes: ``(n, 28, 28)`` for images, ``(n,)`` for labels;
* ``prod(sizes)`` bytes of data in C order: pixels 0 (background) .. 255 (ink), labels 0..9.

What this module guarantees
---------------------------
* Images are float32 in [0, 1] of shape ``(n, 28, 28)``; labels are int64 ``(n,)``.
* The SHA-256 of the *decompressed* content of every official file is checked against
  :data:`SHA256` (pass ``verify=False`` for files that are not the official ones; the
  format checks -- magic, sizes against file length, 28x28, image/label counts -- always run).
* Every failure is a :class:`DataError` (a ``ValueError``) that names the file and says what
  is wrong: :class:`DataNotFoundError`, :class:`IDXFormatError`, :class:`ChecksumError`,
  :class:`CorruptFileError`.
* Decoded arrays are memoized per process, keyed on each file's (resolved path, size, mtime),
  so a second load costs microseconds. The returned arrays are **read-only** views of the
  cache (writing to them raises ``ValueError``); call ``.copy()`` for a writable array.
  :func:`binary_subset` and :func:`train_val_split` return fresh, writable arrays.

Where the files are looked for: see :func:`find_data_dir`.
"""
from __future__ import annotations

import gzip
import hashlib
import math
import numbers
import os
import sys
import urllib.request
import zlib
from collections import OrderedDict
from pathlib import Path

import numpy as np

from .files import write_bytes

DATASETS = ("mnist", "fashion-mnist")
SPLITS = ("train", "test")

# split -> (images file, labels file), names without the ".gz" suffix
FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}

# SHA-256 of the decompressed IDX content, keyed "<dataset>/<file>".
SHA256 = {
    "fashion-mnist/t10k-images-idx3-ubyte": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    "fashion-mnist/t10k-labels-idx1-ubyte": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
    "fashion-mnist/train-images-idx3-ubyte": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    "fashion-mnist/train-labels-idx1-ubyte": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    "mnist/t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "mnist/t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
    "mnist/train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "mnist/train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
}

# Publishers' download locations, tried in order; the file URL is base + name + ".gz".
MIRRORS = {
    "mnist": (
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "http://yann.lecun.com/exdb/mnist/",
    ),
    "fashion-mnist": ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
}

# The two-class tasks of Section 5: MNIST "3" vs "7", Fashion-MNIST T-shirt/top (0) vs Pullover (2).
BINARY_TASKS = {"mnist": (3, 7), "fashion-mnist": (0, 2)}

IMAGES_MAGIC = 2051  # 0x00000803: unsigned byte, 3 dims
LABELS_MAGIC = 2049  # 0x00000801: unsigned byte, 1 dim
IMAGE_SHAPE = (28, 28)
NUM_CLASSES = 10

ENV_VAR = "SPARSENET_DATA"
REPO_DATA_DIR = Path(__file__).resolve().parent.parent / "data"
FETCH_TIMEOUT = 10.0  # seconds per network operation

_ARGUMENT_ADVICE = "pass data_dir=..."  # command_line_message swaps it for the program's flag
_CACHE_SIZE = 8  # decoded splits kept in memory (MNIST train is 188 MB as float32)
_cache: OrderedDict = OrderedDict()


class DataError(ValueError):
    """Base class of every dataset problem; the message names the file involved."""


class DataNotFoundError(DataError):
    """The IDX files are in none of the searched folders and could not be downloaded."""


class IDXFormatError(DataError):
    """Not a valid IDX file: wrong magic number, size/length mismatch, wrong image size,
    or image and label counts that disagree."""


class ChecksumError(DataError):
    """The decompressed content does not have the published SHA-256."""


class CorruptFileError(DataError):
    """A ``.gz`` file that is not valid gzip (bad header, truncated stream, bad CRC)."""


# ----------------------------------------------------------------------------- public API


def load_dataset(name, split, data_dir=None, download=True, verify=True):
    """Load a full split of MNIST or Fashion-MNIST.

    Parameters
    ----------
    name : {"mnist", "fashion-mnist"}
    split : {"train", "test"}
    data_dir : str or Path, optional
        Folder holding ``<name>/`` (or the dataset folder itself); see :func:`find_data_dir`.
    download : bool
        If the files are found nowhere, fetch them from the publishers into ``data/<name>/``.
    verify : bool
        Check the SHA-256 of the decompressed content against :data:`SHA256`. Turn off only
        for files that are not the official ones; format checks run either way.

    Returns
    -------
    images : ndarray of shape (n, 28, 28), float32 in [0, 1], read-only
    labels : ndarray of shape (n,), int64 in 0..9, read-only
    """
    _check_choice("dataset name", name, DATASETS)
    _check_choice("split", split, SPLITS)
    try:
        folder = find_data_dir(name, data_dir, split=split)
    except DataNotFoundError as not_found:
        if not download:
            raise DataNotFoundError(f"{not_found}\nDownloading was not attempted (download=False).") from None
        _download(name, split, not_found)
        folder = find_data_dir(name, data_dir, split=split)
    image_path, label_path = (_existing_file(folder, f) for f in FILES[split])
    return _load_pair(name, image_path, label_path, verify)


def load_binary(name, split, data_dir=None, download=True, verify=True):
    """The two-class task of the paper for ``name`` (see :data:`BINARY_TASKS`), labels 0/1.

    Returns ``(images, labels01)`` as :func:`binary_subset` does.
    """
    _check_choice("dataset name", name, DATASETS)
    images, labels = load_dataset(name, split, data_dir, download=download, verify=verify)
    return binary_subset(images, labels, BINARY_TASKS[name])


def binary_subset(images, labels, classes):
    """Keep the examples of two classes and relabel ``classes[0] -> 0``, ``classes[1] -> 1``.

    Parameters
    ----------
    images : ndarray of shape (n, ...)
    labels : ndarray of shape (n,)
    classes : pair of ints, e.g. ``(3, 7)``

    Returns
    -------
    images : ndarray of shape (m, ...), a new array in the original order
    labels01 : ndarray of shape (m,), int64 in {0, 1}
    """
    classes = tuple(classes)
    if len(classes) != 2 or classes[0] == classes[1]:
        raise ValueError(f"classes must be two different labels, got {classes}")
    labels = np.asarray(labels)
    if len(images) != len(labels):
        raise ValueError(f"images and labels differ in length: {len(images)} vs {len(labels)}")
    keep = (labels == classes[0]) | (labels == classes[1])
    return np.asarray(images)[keep], (labels[keep] == classes[1]).astype(np.int64)


def train_val_split(images, labels, val_size, seed):
    """Split off a validation set with a seeded random permutation (same seed, same split).

    Parameters
    ----------
    images : ndarray of shape (n, ...)
    labels : ndarray of shape (n,)
    val_size : int (number of examples) or float in (0, 1) (fraction of n)
    seed : int, seed of ``np.random.default_rng``

    Returns
    -------
    x_train, y_train, x_val, y_val : new arrays; the two parts are disjoint and cover all n.
    """
    images, labels = np.asarray(images), np.asarray(labels)
    n = len(images)
    if len(labels) != n:
        raise ValueError(f"images and labels differ in length: {n} vs {len(labels)}")
    if isinstance(val_size, (bool, np.bool_)) or not isinstance(val_size, numbers.Real):
        raise ValueError(f"val_size must be a number of examples or a fraction, got {val_size!r}")
    if isinstance(val_size, numbers.Integral):
        val_size = int(val_size)
    else:
        if not 0.0 < val_size < 1.0:
            raise ValueError(f"a fractional val_size must be in (0, 1), got {val_size}")
        val_size = int(round(float(val_size) * n))
    if not 0 < val_size < n:
        raise ValueError(f"val_size must leave both parts non-empty (0 < val_size < {n}), got {val_size}")
    order = np.random.default_rng(seed).permutation(n)
    val, train = order[:val_size], order[val_size:]
    return images[train], labels[train], images[val], labels[val]


def find_data_dir(name, data_dir=None, split=None):
    """The folder holding the IDX files of ``name`` (both files of ``split``, or all four).

    Folders are searched in this order, the first one holding the files wins:

    1. ``<data_dir>/<name>``, then ``<data_dir>`` itself (if the argument is given);
    2. ``$SPARSENET_DATA/<name>`` (if the environment variable is set);
    3. ``<repo>/data/<name>``, the ``data/`` folder beside the ``sparsenet/`` package.

    Each file may be gzip-compressed (``.gz``) or not. Raises :class:`DataNotFoundError`,
    listing every folder searched and the file names expected, if none holds the files.
    """
    _check_choice("dataset name", name, DATASETS)
    if split is not None:
        _check_choice("split", split, SPLITS)
    wanted = FILES[split] if split else FILES["train"] + FILES["test"]
    places = _search_places(name, data_dir)
    for folder, _ in places:
        if all(_existing_file(folder, f) for f in wanted):
            return folder
    raise DataNotFoundError(_not_found_message(name, split, wanted, places))


def read_idx(path, magic, sha256=None):
    """Read one IDX file (``.gz`` or raw) and return its data as a uint8 array.

    Parameters
    ----------
    path : str or Path
    magic : int, the expected magic number (:data:`IMAGES_MAGIC` or :data:`LABELS_MAGIC`)
    sha256 : str, optional; if given, the decompressed content must hash to it

    Returns
    -------
    ndarray of uint8 with the shape written in the header
    """
    path = Path(path)
    content = _read_content(path)
    array = _parse_idx(path, content, magic)   # format first: its errors say what is wrong
    if sha256 is not None:
        _verify(path, content, sha256)
    return array


def locate(name, data_dir=None):
    """Where ``name`` would be loaded from: ``(folder, why)`` for the first searched folder
    holding all four files (see :func:`find_data_dir`), or ``(None, message)`` saying
    where a download would go. Never raises for a missing dataset."""
    _check_choice("dataset name", name, DATASETS)
    wanted = FILES["train"] + FILES["test"]
    for folder, why in _search_places(name, data_dir):
        if all(_existing_file(folder, f) for f in wanted):
            return folder, why
    return None, f"not found; it will be downloaded into {REPO_DATA_DIR / name}"


def command_line_message(err, flag="--data-dir DIR"):
    """The message of a :class:`DataError` for a command-line program: the advice to pass
    the ``data_dir`` argument becomes advice to pass ``flag``."""
    return str(err).replace(_ARGUMENT_ADVICE, f"pass {flag}")


def clear_cache():
    """Forget every decoded array (the next load reads the files again)."""
    _cache.clear()


def _fetch(url, timeout=FETCH_TIMEOUT):
    """Download ``url`` and return its bytes (tests monkeypatch this: no network in tests)."""
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return response.read()


# ----------------------------------------------------------------------------- internals


def _check_choice(what, value, choices):
    if value not in choices:
        raise ValueError(f"unknown {what} {value!r}; choose one of {', '.join(map(repr, choices))}")


def _search_places(name, data_dir):
    """[(folder, why it is searched)] in search order."""
    places = []
    if data_dir is not None:
        root = Path(data_dir).expanduser()
        places += [(root / name, "data_dir argument"), (root, "data_dir argument, as the dataset folder")]
    env = os.environ.get(ENV_VAR)
    if env:
        places.append((Path(env).expanduser() / name, f"${ENV_VAR}"))
    places.append((REPO_DATA_DIR / name, "repository data/ folder"))
    return places


def _existing_file(folder, stem):
    """``folder/stem`` if it exists, else ``folder/stem.gz`` if that exists, else None."""
    for candidate in (folder / stem, folder / f"{stem}.gz"):
        if candidate.is_file():
            return candidate
    return None


def _not_found_message(name, split, wanted, places):
    what = f"{name} {split!r} split" if split else f"{name} dataset"
    lines = [f"{what} not found. Expected these files (each as <file>.gz or uncompressed <file>):"]
    lines += [f"    {f}.gz" for f in wanted]
    lines.append("in one of these folders, searched in this order:")
    width = max(len(str(folder)) for folder, _ in places)
    for folder, why in places:
        present = [f for f in wanted if _existing_file(folder, f)]
        note = f"; has only {', '.join(present)}" if present else ""
        lines.append(f"    {str(folder):<{width}}    ({why}{note})")
    env = os.environ.get(ENV_VAR)
    env_state = f"is set to {env}" if env else "is not set"
    lines.append(
        f"${ENV_VAR} {env_state}. Put the files in {REPO_DATA_DIR / name}, point ${ENV_VAR} at a folder "
        f"holding {name}/, or {_ARGUMENT_ADVICE}"
    )
    return "\n".join(lines)


def _download(name, split, not_found):
    """Fetch the missing files of ``split`` into ``data/<name>/``, each verified before it is
    written (atomically), so a failed download leaves no file behind."""
    target = REPO_DATA_DIR / name
    failures = []
    for stem in FILES[split]:
        if _existing_file(target, stem):
            continue
        expected = SHA256[f"{name}/{stem}"]
        for base in MIRRORS[name]:
            url = f"{base}{stem}.gz"
            print(f"sparsenet: downloading {url} -> {target / (stem + '.gz')}", file=sys.stderr, flush=True)
            try:
                payload = _fetch(url)
                content = _gunzip(url, payload)
            except Exception as err:  # any network/HTTP failure: recorded and reported below
                failures.append(f"    {url}: {type(err).__name__}: {err}")
                continue
            if hashlib.sha256(content).hexdigest() != expected:
                failures.append(f"    {url}: downloaded content does not have the published SHA-256")
                continue
            try:
                write_bytes(target / f"{stem}.gz", payload)
            except OSError as err:
                raise DataError(f"{target / (stem + '.gz')}: cannot save the download ({err})") from None
            break
        else:  # every mirror failed for this file: the split cannot be loaded, stop here
            raise DataNotFoundError(f"{not_found}\nDownloading into {target} failed:\n" + "\n".join(failures))


def _read_content(path):
    """The bytes of an IDX file, decompressed if its name ends in ``.gz``."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DataNotFoundError(f"{path}: file does not exist") from None
    except OSError as err:
        raise DataError(f"{path}: cannot read file ({err.strerror or err})") from None
    return _gunzip(path, raw) if path.suffix == ".gz" else raw


def _verify(path, content, sha256):
    got = hashlib.sha256(content).hexdigest()
    if got != sha256:
        raise ChecksumError(
            f"{path}: SHA-256 of the decompressed content is {got}, expected {sha256}. "
            "The file is well-formed but damaged or not the official one; delete it to download "
            "it again, or pass verify=False if it is deliberately a different file."
        )


def _gunzip(path, raw):
    """Decompress gzip bytes read from ``path`` (a file path or URL, named in errors)."""
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as err:  # BadGzipFile is an OSError; truncation is EOFError
        raise CorruptFileError(f"{path}: not a valid gzip file ({type(err).__name__}: {err})") from None


def _parse_idx(path, content, magic):
    kind = {IMAGES_MAGIC: "images", LABELS_MAGIC: "labels"}.get(magic, "IDX")
    if len(content) < 4:
        raise IDXFormatError(f"{path}: {len(content)} bytes is too short for an IDX header")
    found = int.from_bytes(content[:4], "big")
    if found != magic:
        hint = " (the content is gzip data: name the file with a .gz suffix)" if content[:2] == b"\x1f\x8b" else ""
        raise IDXFormatError(
            f"{path}: wrong magic number {found} (0x{found:08x}), expected {magic} (0x{magic:08x}) "
            f"for an IDX {kind} file{hint}"
        )
    ndim = content[3]
    header = 4 + 4 * ndim
    if len(content) < header:
        raise IDXFormatError(f"{path}: truncated header ({len(content)} bytes, need {header} for {ndim} dimensions)")
    dims = tuple(int.from_bytes(content[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    expected = header + math.prod(dims)   # Python ints: a garbage header must not overflow
    if len(content) != expected:
        problem = "truncated" if len(content) < expected else "oversized"
        raise IDXFormatError(
            f"{path}: {problem}: the header declares shape {dims}, i.e. {expected} bytes, "
            f"but the (decompressed) content has {len(content)} bytes"
        )
    if kind == "images" and dims[1:] != IMAGE_SHAPE:
        raise IDXFormatError(f"{path}: images are {dims[1]}x{dims[2]}, expected 28x28")
    return np.frombuffer(content, dtype=np.uint8, offset=header).reshape(dims)


def _file_key(path):
    st = path.stat()
    return (str(path.resolve()), st.st_size, st.st_mtime_ns)


def _load_pair(name, image_path, label_path, verify):
    key = (_file_key(image_path), _file_key(label_path))
    hit = _cache.get(key)
    if hit is not None and (hit[2] or not verify):
        _cache.move_to_end(key)
        return hit[0], hit[1]

    # Every format check runs before the checksums: a wrong magic number or a count mismatch
    # is reported as what it is, not as "SHA-256 differs".
    image_content, label_content = _read_content(image_path), _read_content(label_path)
    raw_images = _parse_idx(image_path, image_content, IMAGES_MAGIC)
    raw_labels = _parse_idx(label_path, label_content, LABELS_MAGIC)
    if len(raw_images) != len(raw_labels):
        raise IDXFormatError(
            f"{image_path} holds {len(raw_images)} images but {label_path} holds {len(raw_labels)} labels"
        )
    if raw_labels.size and raw_labels.max() >= NUM_CLASSES:
        raise IDXFormatError(f"{label_path}: label {raw_labels.max()} is outside 0..{NUM_CLASSES - 1}")
    if verify:
        for path, content in ((image_path, image_content), (label_path, label_content)):
            _verify(path, content, SHA256[f"{name}/{path.name.removesuffix('.gz')}"])
    images = raw_images.astype(np.float32)
    images /= np.float32(255)
    labels = raw_labels.astype(np.int64)
    images.flags.writeable = False
    labels.flags.writeable = False
    _cache[key] = (images, labels, verify)
    while len(_cache) > _CACHE_SIZE:
        _cache.popitem(last=False)
    return images, labels

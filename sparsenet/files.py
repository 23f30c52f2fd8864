"""Atomic file writes: a crash or Ctrl-C never leaves a truncated file behind.

Every writer goes through :func:`atomic_path`: write to a temporary file in the
same directory (``.tmp-<pid>-<name>-<random>``), flush it to disk, then ``os.replace`` it
over the target (atomic on POSIX and Windows).
"""
from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path

import numpy as np

TMP_PREFIX = ".tmp-"   # every temporary file of atomic_path starts with it


@contextlib.contextmanager
def atomic_path(path, suffix: str = ""):
    """Yield a temporary path beside ``path``; on success move it over ``path``.

    ``suffix`` keeps the extension that some writers insist on (``np.savez`` adds
    ``.npz``, matplotlib picks the format from it).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # The writer's pid is in the name, so that a later run can tell a temporary file left by a
    # killed run (its pid is gone) from one being written right now (see cache.remove_stale_temporaries).
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f"{TMP_PREFIX}{os.getpid()}-{path.name}-", suffix=suffix)
    except OSError as err:              # a folder one cannot write in: name the file asked for, not ours
        raise OSError(err.errno, err.strerror or str(err), str(path)) from err
    try:                                # from here on, an interrupt (Ctrl-C, SIGTERM) removes tmp
        os.close(fd)
        os.chmod(tmp, 0o666 & ~_umask())   # mkstemp makes 0600; a result file is as readable as any other
        yield Path(tmp)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as err:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if isinstance(err, OSError) and err.filename in (None, tmp, str(tmp)):
            # A failed write (disk full...) inside np.savez, a zip or a JSON dump names no file,
            # or names the temporary one: name the file being written.
            raise OSError(err.errno, err.strerror or str(err), str(path)) from err
        raise


def _umask():
    """The process umask (POSIX can only read it by setting it; set straight back)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_bytes(path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_json(path, obj) -> None:
    text = json.dumps(obj, indent=2, sort_keys=True, default=json_default) + "\n"
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def save_npz(path, **arrays) -> None:
    """``np.savez`` atomically; every value must be an array (no pickled objects)."""
    with atomic_path(path, suffix=".npz") as tmp:
        np.savez(tmp, **arrays)


def load_npz(path) -> dict:
    """Load an ``.npz`` written by :func:`save_npz`, never unpickling."""
    with np.load(path, allow_pickle=False) as f:
        return {k: f[k] for k in f.files}


def save_figure(fig, path, **kwargs) -> None:
    path = Path(path)
    with atomic_path(path, suffix=path.suffix) as tmp:
        fig.savefig(tmp, **kwargs)


def json_default(obj):
    """``json.dumps``'s ``default``: numpy scalars and arrays as Python numbers and lists, paths as text."""
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"cannot serialise {type(obj).__name__} to JSON")

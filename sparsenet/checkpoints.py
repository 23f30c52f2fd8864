"""Checkpoints: a network's weights, architecture and metadata in one ``.npz`` file.

``save_checkpoint`` writes atomically; ``load_checkpoint`` rebuilds the network and checks
everything a damaged or foreign file can get wrong, so that a bad file is an error naming
it, never a network that quietly computes nonsense. Nothing in a checkpoint is unpickled.
"""
from __future__ import annotations

import json
import struct
import zipfile
import zlib
from pathlib import Path

import numpy as np

from . import files
from .models import ARCHITECTURES, build


class CheckpointError(ValueError):
    """A checkpoint is missing, corrupt, or belongs to another architecture.

    ``reason`` is the message without the file name (the cache logs it beside the file).
    """

    def __init__(self, message, reason=None):
        super().__init__(message)
        self.reason = reason or message



def save_checkpoint(path, net, metadata=None):
    """Write ``net``'s weights, architecture and ``metadata`` (a JSON-able dict:
    dataset, seed, defense settings...) to an ``.npz``, atomically."""
    header = {"arch": net.arch, "config": net.config, "dtype": net.dtype.name}
    arrays = {f"param/{k}": v for k, v in net.state_dict().items()}
    files.save_npz(path, __arch__=np.array(json.dumps(header)),
                   __meta__=np.array(json.dumps(metadata or {})), **arrays)


def load_checkpoint(path, arch=None):
    """Load a checkpoint; returns ``(net, metadata)``.

    Raises ``CheckpointError``, naming the file and what is wrong with it, when the file is
    missing, empty, truncated, not an ``.npz`` of plain arrays, lacks the header, the
    metadata or a parameter, names an unknown architecture, (with ``arch``) holds another
    architecture, or has a parameter of the wrong shape, not of real floating-point numbers
    (integers, booleans, complex) or holding NaN or infinity. Nothing is ever unpickled.
    """
    path = Path(path)

    def bad(reason):
        return CheckpointError(f"{path} is not a usable sparsenet checkpoint: {reason}", reason)

    try:
        with open(path, "rb") as f:
            start = f.read(4)
    except FileNotFoundError:
        raise CheckpointError(f"no checkpoint at {path}", "no such file") from None
    except OSError as e:
        raise bad(f"cannot read it ({e.strerror or e})") from None
    if not start:
        raise bad("the file is empty")
    if start != b"PK\x03\x04":
        raise bad("not an .npz archive (it does not start with the zip signature)")
    try:
        data = files.load_npz(path)
    except (EOFError, zipfile.BadZipFile, zlib.error, struct.error) as e:
        raise bad(f"truncated or damaged archive ({type(e).__name__})") from None
    except (OSError, ValueError, KeyError) as e:
        detail = "an array holds Python objects" if "pickle" in str(e) else f"{type(e).__name__}: {e}"
        raise bad(f"unreadable archive ({detail})") from None

    header = _json_entry(data, "__arch__", "the architecture header", bad)
    metadata = _json_entry(data, "__meta__", "the metadata", bad)
    missing = [k for k in ("arch", "config", "dtype") if k not in header]
    if missing:
        raise bad(f"the header lacks {', '.join(map(repr, missing))}")
    if header["arch"] not in ARCHITECTURES:
        raise bad(f"unknown architecture {header['arch']!r} in the header (known: {', '.join(sorted(ARCHITECTURES))})")
    if arch is not None and header["arch"] != arch:
        raise CheckpointError(f"{path} holds a {header['arch']!r} network, not {arch!r}",
                              f"holds a {header['arch']!r} network, not {arch!r}")
    if not isinstance(header["config"], dict):
        raise bad(f"the header's config is {type(header['config']).__name__}, not an object")
    try:
        dtype = np.dtype(header["dtype"])
    except TypeError:
        raise bad(f"unknown dtype {header['dtype']!r} in the header") from None
    if dtype.kind != "f":
        raise bad(f"dtype {header['dtype']!r} in the header is not a floating-point type")
    try:
        net = build(header["arch"], **header["config"], dtype=dtype)
    except (TypeError, ValueError) as e:
        raise bad(f"the header's config {header['config']} does not build a {header['arch']} ({e})") from None
    params = {k[len("param/"):]: v for k, v in data.items() if k.startswith("param/")}
    try:
        net.load_state_dict(params)
    except (TypeError, ValueError) as e:
        raise bad(str(e)) from None
    return net, metadata


def _json_entry(data, key, what, bad):
    """The JSON object stored as a string array ``data[key]`` of a checkpoint."""
    if key not in data:
        raise bad(f"{what} ({key}) is missing")
    value = data.pop(key)
    if value.shape != () or value.dtype.kind != "U":
        raise bad(f"{what} ({key}) is not a string")
    try:
        obj = json.loads(str(value))
    except (ValueError, RecursionError):
        raise bad(f"{what} ({key}) is not valid JSON") from None
    if not isinstance(obj, dict):
        kind = {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}.get(type(obj), "a number")
        raise bad(f"{what} ({key}) is {kind} in JSON, not an object")
    return obj


__all__ = ["CheckpointError", "save_checkpoint", "load_checkpoint"]

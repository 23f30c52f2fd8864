"""Checkpoints: a network's weights, architecture and metadata in one ``.npz`` file.

``save_checkpoint`` writes atomically; ``load_checkpoint`` rebuilds the network and checks
everything a damaged or foreign file can get wrong, so that a bad file is an error naming
it, never a network that quietly computes nonsense. Nothing in a checkpoint is unpickled.

The file holds the string arrays ``__arch__`` (the header, a JSON object) and ``__meta__``
(the metadata, a JSON object), and one array ``param/<key>`` per entry of the network's
``state_dict``. The header says how to rebuild the network: ``arch``, ``config`` and
``dtype``, and the file's ``format`` (``FORMAT``). Format 1, the first, had no ``format``
key; a file without one is read as format 1.
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

FORMAT = 2                  # what save_checkpoint writes; load_checkpoint reads 1 and 2
HEADER_KEYS = {1: {"arch", "config", "dtype"}, 2: {"format", "arch", "config", "dtype"}}


class CheckpointError(ValueError):
    """A checkpoint is missing, corrupt, or belongs to another architecture.

    ``reason`` is the message without the file name (the cache logs it beside the file).
    """

    def __init__(self, message, reason=None):
        super().__init__(message)
        self.reason = reason or message



def save_checkpoint(path, net, metadata=None):
    """Write ``net``'s weights, architecture and ``metadata`` (a dict of JSON values: dataset,
    seed, defense settings...; numpy numbers and arrays are written as numbers and lists) to
    an ``.npz``, atomically.

    Raises ``ValueError``, before writing anything, when the file could not be loaded back:
    ``net`` is not a network ``models.build`` makes from its ``arch`` and ``config`` (a custom
    ``Sequential``, or layers that differ from its config), or ``metadata`` is not a dict of
    JSON values.
    """
    if metadata is None:
        metadata = {}
    if not isinstance(metadata, dict):
        raise ValueError(f"metadata must be a dict (a JSON object), got {type(metadata).__name__}: {metadata!r}")
    _check_rebuilds(net)
    header = {"format": FORMAT, "arch": net.arch, "config": net.config, "dtype": net.dtype.name}
    try:
        meta_text = json.dumps(metadata, default=files.json_default)
    except (TypeError, ValueError) as e:
        raise ValueError(f"metadata must be a dict of JSON values (numbers, text, lists, dicts): {e}") from None
    arrays = {f"param/{k}": v for k, v in net.state_dict().items()}
    files.save_npz(path, __arch__=np.array(json.dumps(header, default=files.json_default)),
                   __meta__=np.array(meta_text), **arrays)


def _check_rebuilds(net):
    """Raise ValueError unless ``build(net.arch, **net.config)`` makes a network of net's layers."""
    arch, config = getattr(net, "arch", None), getattr(net, "config", None)
    if arch not in ARCHITECTURES:
        raise ValueError(f"save_checkpoint saves the networks models.build makes ({', '.join(sorted(ARCHITECTURES))}); "
                         f"got a {arch!r} network, which load_checkpoint could not rebuild")
    try:
        twin = build(arch, **config, dtype=net.dtype)
    except (TypeError, ValueError) as e:
        raise ValueError(f"the network's config {config} does not build a {arch} ({e}): "
                         "load_checkpoint could not rebuild it") from None
    layers = [(type(l).__name__, l.config(), {k: v.shape for k, v in l.params.items()}) for l in net.layers]
    expected = [(type(l).__name__, l.config(), {k: v.shape for k, v in l.params.items()}) for l in twin.layers]
    if layers != expected:
        raise ValueError(f"the network's layers are not those of build({arch!r}, **{config}): "
                         "load_checkpoint could not rebuild it")


def load_checkpoint(path, arch=None):
    """Load a checkpoint; returns ``(net, metadata)``.

    Raises ``CheckpointError``, naming the file and what is wrong with it, when the file is
    missing, empty, truncated, not an ``.npz`` of plain arrays, lacks the header, the
    metadata or a parameter, has a format newer than ``FORMAT`` or keys its format does not
    have, names an unknown architecture or a config that does not build (or would not fit in
    memory), (with ``arch``) holds another architecture, or has a parameter of the wrong
    shape, not of real floating-point numbers (integers, booleans, complex), holding NaN or
    infinity, or values beyond the network's dtype. Nothing is ever unpickled.
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
    version = header.get("format", 1)
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise bad(f"the header's format {version!r} is not a checkpoint format number")
    if version > FORMAT:
        raise bad(f"written in checkpoint format {version}, by a newer sparsenet: this one reads formats 1 to {FORMAT}")
    unknown = sorted(set(header) - HEADER_KEYS[version] - {"format"})
    if unknown:
        raise bad(f"the header has keys format {version} does not have: {', '.join(map(repr, unknown))}")
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
    except MemoryError:
        raise bad(f"the header's config {header['config']} asks for a {header['arch']} too large to build") from None
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

"""The on-disk cache of trained networks, attack results and theory results, made safe
against what happens to files: corrupt entries, killed runs, and two runs at once.

* **Corrupt entries** (an empty or truncated ``.npz``, a truncated or non-UTF-8 ``.json``,
  JSON that is not an object): one log line names the file, which is renamed to
  ``<name>.corrupt`` (kept for a look, out of the way), and the entry is computed again.
* **Killed runs** leave temporary files ``.tmp-<pid>-...`` (see ``files.atomic_path``); the
  next run removes those whose writer is no longer running, and those without a pid in the
  name that are older than a minute. A concurrent run's file being written is left alone.
* **Two runs sharing a cache** take a lock per entry, ``<name>.lock`` holding the owner's pid
  and host: the second run waits while the first computes, then reuses its result. A lock
  whose owner is no longer running (a killed run) is broken, with a log line.

Everything goes through :func:`get_or_compute`::

    value = get_or_compute(path, load, compute, log)

with ``load(log)`` returning the cached value or ``None`` (missing, corrupt, or made from
other settings; ``log`` is ``None`` for a quiet first look) and ``compute()`` computing the
value and writing ``path``.
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import time
from pathlib import Path

from ..checkpoints import CheckpointError, load_checkpoint
from ..files import TMP_PREFIX

CORRUPT_SUFFIX = ".corrupt"
LOCK_SUFFIX = ".lock"
STALE_TMP_SECONDS = 60.0     # a temporary file without a pid in its name is stale after this
UNREADABLE_LOCK_SECONDS = 10.0   # an empty lock file (owner killed between create and write)
POLL_SECONDS = 0.2
WAIT_LOG_SECONDS = 60.0      # while waiting for a lock, a reminder line this often

_TMP_PID = re.compile(re.escape(TMP_PREFIX) + r"(\d+)-")
_cleaned: set = set()        # folders already cleared of stale temporaries in this process
_held: set = set()           # lock files this process holds right now


class CacheError(RuntimeError):
    """A cache entry can be neither read nor moved aside, or its lock cannot be taken."""


class CacheLockTimeout(CacheError, TimeoutError):
    """Waited longer than the given timeout for another run's lock."""


# -- the one entry point ------------------------------------------------------------------
def get_or_compute(path, load, compute, log, timeout=None):
    """The value cached at ``path``, computed (once, under the entry's lock) if needed.

    ``load(log)`` -> value or None: the cached value, or None when the file is missing,
    corrupt (``load`` moves it aside with :func:`read_json` / :func:`move_aside` when ``log``
    is given) or stale. ``compute()`` -> value, and writes ``path``. A first quiet look
    needs no lock; when it finds nothing, the lock is taken and ``load`` runs again, so a
    value another run finished meanwhile is reused instead of computed twice.
    """
    path = Path(path)
    remove_stale_temporaries(path.parent, log, once=True)
    value = load(None)
    if value is not None:
        return value
    with entry_lock(path, log, timeout=timeout):
        value = load(log)
        if value is not None:
            return value
        return compute()


# -- corrupt entries ----------------------------------------------------------------------
def move_aside(path, reason, log):
    """Rename an unreadable entry to ``<name>.corrupt`` (replacing an older one) and log one
    line naming it. Raises :class:`CacheError` if even the rename fails."""
    path = Path(path)
    target = path.with_name(path.name + CORRUPT_SUFFIX)
    try:
        os.replace(path, target)
    except FileNotFoundError:
        return                       # another run moved it already
    except OSError as err:
        raise CacheError(f"cache entry {path} is unreadable ({reason}) and cannot be moved aside "
                         f"({err.strerror or err}); delete it by hand") from None
    if log is not None:
        log(f"cache: {path} is unreadable ({reason}); moved it to {target.name}, computing it again")


def read_json(path, log):
    """The JSON object stored at ``path``; None when the file is missing or unreadable.

    With ``log`` (not None), an unreadable file (empty, truncated, not UTF-8, not JSON, or
    JSON that is not an object) is moved aside with one log line; without, it is left alone.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as err:
        reason = f"cannot read it: {err.strerror or err}"
    else:
        obj, reason = parse_json_object(raw)
        if reason is None:
            return obj
    if log is not None:
        move_aside(path, reason, log)
    return None


def parse_json_object(raw):
    """``(obj, None)`` for bytes holding a UTF-8 JSON object, else ``(None, why not)``."""
    if not raw.strip():
        return None, "empty file"
    try:
        obj = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as err:
        return None, f"not UTF-8 text (byte {err.start})"
    except json.JSONDecodeError as err:
        return None, f"not valid JSON: {err.msg} at line {err.lineno} column {err.colno}"
    except RecursionError:
        return None, "JSON nested too deeply"
    if not isinstance(obj, dict):
        kind = {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}.get(type(obj), "a number")
        return None, f"the JSON is {kind}, not an object"
    return obj, None


def read_checkpoint(path, arch, log):
    """``models.load_checkpoint(path, arch)`` -> (net, metadata), or None when the file is
    missing or is not a valid checkpoint (moved aside with one log line when ``log`` is given)."""
    path = Path(path)
    if not path.exists():
        return None
    try:
        return load_checkpoint(path, arch=arch)
    except CheckpointError as err:
        if log is not None and path.exists():
            move_aside(path, getattr(err, "reason", None) or str(err), log)
        return None


# -- temporary files of killed runs -------------------------------------------------------
def remove_stale_temporaries(folder, log=None, once=False, max_age=STALE_TMP_SECONDS):
    """Delete the ``.tmp-*`` files in ``folder`` that no running writer owns: those whose
    pid (in the name) is not a running process, and those without a pid older than
    ``max_age`` seconds. Returns the paths removed. ``once``: skip folders already done
    by this process."""
    folder = Path(folder)
    key = str(folder.resolve()) if folder.exists() else None
    if key is None or (once and key in _cleaned):
        return []
    _cleaned.add(key)
    removed = []
    now = time.time()
    for p in folder.glob(TMP_PREFIX + "*"):
        m = _TMP_PID.match(p.name)
        try:
            stale = not pid_running(int(m.group(1))) if m else now - p.stat().st_mtime > max_age
        except FileNotFoundError:
            continue                 # its writer finished meanwhile
        if stale:
            with contextlib.suppress(OSError):   # gone meanwhile, or a read-only folder: leave it
                p.unlink()
                removed.append(p)
    if removed and log is not None:
        log(f"cache: removed {len(removed)} temporary file(s) left in {folder} by an interrupted run")
    return removed


def pid_running(pid):
    """Whether process ``pid`` exists on this machine and is not a zombie."""
    if pid <= 0:
        return False
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:          # exists, belongs to another user
        return True
    except OSError:
        return False
    try:                             # Linux: a killed child not yet reaped is a zombie
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return fields[0] != "Z"
    except (OSError, IndexError):
        return True


# -- one lock per entry -------------------------------------------------------------------
def lock_path(path):
    path = Path(path)
    return path.with_name(path.name + LOCK_SUFFIX)


@contextlib.contextmanager
def entry_lock(path, log=None, timeout=None, poll=POLL_SECONDS):
    """Hold ``<path>.lock`` (created exclusively, holding "<pid> <host>") for the block.

    While another running process holds it, wait (one log line, then a reminder every
    minute); a lock left by a process that is no longer running is broken. ``timeout``
    (seconds, None = wait as long as it takes) raises :class:`CacheLockTimeout`.
    """
    lock = lock_path(path)
    lock.parent.mkdir(parents=True, exist_ok=True)
    me = (os.getpid(), socket.gethostname())
    start = last_said = time.monotonic()
    said = False
    while True:
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            owner = _lock_owner(lock)
            if _lock_is_stale(lock, owner) and _break_lock(lock, owner, log):
                continue
            now = time.monotonic()
            if timeout is not None and now - start > timeout:
                raise CacheLockTimeout(f"{lock} is still held by {_describe(owner)} after {timeout:g}s") from None
            if log is not None and (not said or now - last_said > WAIT_LOG_SECONDS):
                log(f"cache: waiting for {Path(path).name}, which {_describe(owner)} is computing "
                    f"(lock file {lock}; delete it if no such run is going on)")
                said, last_said = True, now
            time.sleep(poll)
            continue
        except OSError as err:
            raise CacheError(f"cannot create the lock file {lock} ({err.strerror or err})") from None
        break
    written = False
    try:                             # from the lock's creation on: an interrupt removes it
        with os.fdopen(fd, "w") as f:
            f.write(f"{me[0]} {me[1]}\n")
        written = True
        _held.add(str(lock))
        yield lock
    finally:
        _held.discard(str(lock))
        # Never remove a lock that is not ours any more; one interrupted before it said whose
        # it is was created by us a moment ago.
        if _lock_owner(lock) == me or not written:
            with contextlib.suppress(FileNotFoundError):
                lock.unlink()


def _lock_owner(lock):
    """(pid, host) written in a lock file, or None when it is missing, empty or garbled."""
    try:
        pid, host = lock.read_text().split()
        return int(pid), host
    except (OSError, ValueError):
        return None


def _describe(owner):
    return "an unknown process" if owner is None else f"process {owner[0]} on {owner[1]}"


def _lock_is_stale(lock, owner):
    if owner is None:                # being written right now, or its writer died at once
        try:
            return time.time() - lock.stat().st_mtime > UNREADABLE_LOCK_SECONDS
        except FileNotFoundError:
            return False
    pid, host = owner
    if host != socket.gethostname():
        return False                 # another machine: cannot tell
    if pid == os.getpid():           # our pid, but not a lock we hold: an earlier process had it
        return str(lock) not in _held
    return not pid_running(pid)


def _break_lock(lock, owner, log):
    """Remove a stale lock, unless another process broke (and maybe re-took) it meanwhile:
    breakers take turns through ``<lock>.break``, and re-check the owner under it."""
    guard = lock.with_name(lock.name + ".break")
    try:
        fd = os.open(guard, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        with contextlib.suppress(FileNotFoundError):
            if time.time() - guard.stat().st_mtime > UNREADABLE_LOCK_SECONDS:
                guard.unlink()       # its breaker died within those few lines
        return False
    os.close(fd)
    try:
        if _lock_owner(lock) != owner or not _lock_is_stale(lock, owner):
            return False
        with contextlib.suppress(FileNotFoundError):
            lock.unlink()
        if log is not None:
            log(f"cache: removed the stale lock {lock} of {_describe(owner)}, which is no longer running")
        return True
    finally:
        with contextlib.suppress(FileNotFoundError):
            guard.unlink()

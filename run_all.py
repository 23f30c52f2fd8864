"""Reproduce the paper's Section 5 and Appendix B: Tables 1-2, Figures 5-7, B.2.

    python run_all.py                 # everything (cached: a second run takes seconds)
    python run_all.py --extended      # and cnn4 over 3 seeds, the rho, basis and level studies
    python run_all.py --quick         # every code path on small subsets, a minute or two
    python run_all.py --only table1 fig7

Trained networks and attack results are cached under ``<out>/cache`` by a hash of their
settings, so an interrupted run resumes where it stopped. Full results go to
``<out>/results``, ``<out>/figures`` and ``<out>/REPORT.md``; quick results to
``<out>/results/quick`` and ``<out>/figures/quick``, and those of ``--only`` to
``<out>/results/partial`` and ``<out>/figures/partial``: neither overwrites the full ones.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import tempfile
import threading
from pathlib import Path

from sparsenet import data, parallel
from sparsenet.checkpoints import CheckpointError
from sparsenet.data import DataError
from sparsenet.repro import cache
from sparsenet.repro.cache import CacheError
from sparsenet.repro.reproduce import reproduce
from sparsenet.repro.sections import DEFAULT as SECTIONS, EXTENDED as EXTENDED_SECTIONS

ROOT = Path(__file__).resolve().parent


def log(msg):
    # One write per line: an interrupt between print's text and its newline would glue the
    # "interrupted" line to the end of a progress line.
    sys.stderr.write(f"{msg}\n")
    sys.stderr.flush()


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description="Reproduce Section 5 and Appendix B of 'Toward Robust "
                                             "Neural Networks via Sparsification'.")
    ap.add_argument("--quick", action="store_true", help="small subsets, few epochs/iterations (smoke test)")
    ap.add_argument("--extended", action="store_true",
                    help=f"also cnn4 over 3 training seeds and the studies {', '.join(EXTENDED_SECTIONS)} "
                         "(resumes from the default run's cache)")
    ap.add_argument("--only", nargs="+", choices=SECTIONS + EXTENDED_SECTIONS, metavar="SECTION",
                    help=f"run only these sections ({', '.join(SECTIONS + EXTENDED_SECTIONS)})")
    ap.add_argument("--data-dir", help="folder holding mnist/ and fashion-mnist/ (default: $SPARSENET_DATA, then data/)")
    ap.add_argument("--out", default=str(ROOT), help="where results/, figures/, cache/ and REPORT.md go")
    ap.add_argument("--seed", type=_seed, default=0, help="seed of every random choice (an integer >= 0)")
    args = ap.parse_args(argv)
    if args.data_dir is not None and not Path(args.data_dir).expanduser().is_dir():
        ap.error(f"--data-dir {args.data_dir} is not a folder")
    return args


def _seed(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer >= 0, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be an integer >= 0, got {value}")
    return value


def _check_out(out):
    """None if ``out`` is (or can be made) a writable folder, else what is wrong. Clears the
    temporary files a killed run left in it (see ``cache.remove_stale_temporaries``)."""
    if out.exists() and not out.is_dir():
        return f"--out {out} is a file, not a folder"
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=out, prefix=f".tmp-{os.getpid()}-write-test-"):
            pass
    except OSError as e:
        return f"--out {out} is not a writable folder ({e.strerror or e})"
    for folder in (out, *(out / kind / subset for kind in ("results", "figures") for subset in ("", "quick", "partial"))):
        cache.remove_stale_temporaries(folder, log)
    return None


def _data_line(data_dir):
    places = []
    for name in ("mnist", "fashion-mnist"):
        folder, why = data.locate(name, data_dir)
        why = why.replace("data_dir argument", "--data-dir")
        places.append(f"{name} from {folder} ({why})" if folder else f"{name} {why}")
    return "data: " + "; ".join(places)


def _check_environment():
    """None if the environment variables a run reads are usable, else what is wrong (checked
    before any work: a bad value must not surface after minutes of training)."""
    try:
        parallel.workers()
    except ValueError as e:
        return str(e)
    folder = os.environ.get(data.ENV_VAR, "")
    if folder and not Path(folder).expanduser().is_dir():
        return f"${data.ENV_VAR} is set to {folder}, which is not a folder"
    return None


def main(argv=None):
    args = parse_args(argv)
    out = Path(args.out).expanduser()
    problem = _check_environment() or _check_out(out)
    if problem:
        log(f"error: {problem}; nothing was run")
        return 2
    log(f"{_data_line(args.data_dir)}. Output: {out}")
    return reproduce(out, data_dir=args.data_dir, quick=args.quick, extended=args.extended, only=args.only,
                     seed=args.seed, log=log)


# Signals that stop a run as Ctrl-C does: KeyboardInterrupt, so every lock and temporary file
# is removed on the way out, and the run ends with the "interrupted" line and exit status 130.
STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))


def _interrupt(signum, frame):
    for sig in STOP_SIGNALS:         # one clean stop: a second signal must not cut the cleanup short
        signal.signal(sig, signal.SIG_IGN)
    raise KeyboardInterrupt(signal.Signals(signum).name)


@contextlib.contextmanager
def stop_on_signals():
    """SIGTERM and SIGHUP (``kill``, a closed terminal) handled as SIGINT (Ctrl-C) inside the
    block. A signal the run was started with ignored (``nohup``, a background job's SIGINT)
    stays ignored. Python runs handlers in the main thread only: elsewhere nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.getsignal(sig) for sig in STOP_SIGNALS}
    for sig, handler in previous.items():
        if handler is not signal.SIG_IGN:
            signal.signal(sig, _interrupt)
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)


def cli(argv=None):
    """``main`` for the command line: expected failures end in one message, not a traceback;
    Ctrl-C, SIGTERM and SIGHUP end in the "interrupted" line and exit status 130."""
    try:
        with stop_on_signals():
            return main(argv)
    except DataError as e:
        log(f"error: {data.command_line_message(e, '--data-dir DIR')}")
    except (CheckpointError, CacheError, FloatingPointError) as e:
        log(f"error: {e}")
    except OSError as e:    # disk full, permissions...: name the file
        log(f"error: {e.strerror or e}{f': {e.filename}' if e.filename else ''}")
    except KeyboardInterrupt:
        log("interrupted: finished models and attacks are cached; run the same command again to resume")
        return 130
    return 2


if __name__ == "__main__":
    sys.exit(cli())

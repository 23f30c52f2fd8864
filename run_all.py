"""Reproduce the paper's Section 5 and Appendix B: Tables 1-2, Figures 5-7, B.2.

    python run_all.py                 # everything (cached: a second run takes seconds)
    python run_all.py --extended      # and cnn4 over 3 seeds, the rho, basis and level studies
    python run_all.py --quick         # every code path on small subsets, a minute or two
    python run_all.py --only table1 fig7

Trained networks and attack results are cached under ``<out>/cache`` by a hash of their
settings, so an interrupted run resumes where it stopped. Full results go to
``<out>/results``, ``<out>/figures`` and ``<out>/REPORT.md``; quick results to
``<out>/results/quick`` and ``<out>/figures/quick`` and never overwrite the full ones.
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

from sparsenet import cache, data, files, plots, report
from sparsenet.cache import CacheError
from sparsenet.data import DataError
from sparsenet.experiments import AttackSpec, Context, Progress, TrainSpec, attack_cost, train_cost
from sparsenet.models import CheckpointError
from sparsenet.reproduction import (EXTENDED_SECTIONS, SECTIONS, Settings, plan, sparse_setting,
                                    theory_results)

ROOT = Path(__file__).resolve().parent


def log(msg):
    print(msg, file=sys.stderr, flush=True)


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
    for folder in (out, out / "results", out / "results" / "quick", out / "figures", out / "figures" / "quick"):
        cache.remove_stale_temporaries(folder, log)
    return None


def _data_line(data_dir):
    places = []
    for name in ("mnist", "fashion-mnist"):
        folder, why = data.locate(name, data_dir)
        why = why.replace("data_dir argument", "--data-dir")
        places.append(f"{name} from {folder} ({why})" if folder else f"{name} {why}")
    return "data: " + "; ".join(places)


def main(argv=None):
    args = parse_args(argv)
    out = Path(args.out).expanduser()
    problem = _check_out(out)
    if problem:
        log(f"error: {problem}; nothing was run")
        return 2
    log(f"{_data_line(args.data_dir)}. Output: {out}")
    settings = Settings(quick=args.quick, seed=args.seed)
    results_dir = out / "results" / ("quick" if args.quick else "")
    figures_dir = out / "figures" / ("quick" if args.quick else "")
    ctx = Context(cache_dir=out / "cache", data_dir=args.data_dir, log=log)
    sections = args.only or list(SECTIONS) + (list(EXTENDED_SECTIONS) if args.extended else [])
    start = time.perf_counter()

    # Table 2's sparse network is chosen from the l1 sweep's validation numbers: its
    # networks are trained (or read from the cache) before anything else is planned.
    uses_sparse = {"b2", "table2", "sweep", "fig5", "fig6", "theory", "adaptive"}
    sparse = sparse_setting(ctx, settings) if uses_sparse & set(sections) else None
    jobs = {s: plan(s, settings, sparse, extended=args.extended) for s in sections}
    owner, models = {}, {}           # a network belongs to the first section that uses it
    for section, section_jobs in jobs.items():
        for _, spec in section_jobs:
            model = spec if isinstance(spec, TrainSpec) else spec.model
            models[model.key()] = model
            owner.setdefault(model.key(), section)
    attacks = [(key, spec) for js in jobs.values() for key, spec in js if isinstance(spec, AttackSpec)]
    todo_models = [m for m in models.values() if not ctx.model_path(m).exists()]
    todo_attacks = [a for _, a in attacks if not ctx.attack_path(a).exists()]
    progress = Progress(sum(map(train_cost, todo_models)) + sum(map(attack_cost, todo_attacks)), log)
    log(f"{len(models)} networks ({len(todo_models)} to train), {len(attacks)} attack runs "
        f"({len(todo_attacks)} to run); sections: {' '.join(sections)}")

    for m in models.values():
        cached = ctx.model_path(m).exists()
        ctx.model(m)
        progress.step(0 if cached else train_cost(m), f"model {m.name}{' (cached)' if cached else ''}")
    results, infos = {}, {}
    for key, spec in attacks:
        cached = ctx.attack_path(spec).exists()
        r = results[key] = ctx.attack(spec)
        progress.step(0 if cached else attack_cost(spec),
                      f"{key}: accuracy {100 * r['robust_accuracy']:.2f}%{' (cached)' if cached else ''}")
    for section_jobs in jobs.values():
        for key, spec in section_jobs:
            if isinstance(spec, TrainSpec):
                infos[key] = ctx.model_info(spec)

    theory = theory_results(ctx, settings) if "theory" in sections else None
    for section, section_jobs in jobs.items():
        record = {key: _public(results[key]) if key in results else _model_record(infos[key])
                  for key, _ in section_jobs}
        if section == "theory":
            record["measured"] = theory
        files.write_json(results_dir / f"{section}.json", record)
    figures = plots.paper_figures(results, figures_dir)
    figures += plots.study_figures(results, infos, figures_dir)
    if theory is not None:
        figures += plots.theory_figures(theory, figures_dir)
    # What a cold cache costs, per section: every network's training (in the first section
    # that uses it) and every attack's run.
    compute = {s: {"train_seconds": 0.0, "attack_seconds": 0.0} for s in sections}
    for key, m in models.items():
        compute[owner[key]]["train_seconds"] += ctx.model_info(m)["train_seconds"]
    for section, section_jobs in jobs.items():
        compute[section]["attack_seconds"] += sum(results[k]["wall_seconds"] for k, spec in section_jobs
                                                  if isinstance(spec, AttackSpec))
    if theory is not None:
        compute["theory"]["attack_seconds"] += theory.get("wall_seconds", 0)
    timing = {"wall_seconds": time.perf_counter() - start,
              "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
              "compute_seconds": sum(c["train_seconds"] + c["attack_seconds"] for c in compute.values()),
              "sections": compute}
    summ = report.summary(report.cells(results, infos, settings), results, infos, sparse=sparse, timing=timing)
    files.write_json(results_dir / "summary.json", summ)
    report_path = results_dir / "REPORT.md" if args.quick else out / "REPORT.md"
    rel = [(title, os.path.relpath(Path(p).resolve(), report_path.parent.resolve())) for title, p in figures]
    text = report.markdown(summ, _settings_record(settings, models), timing, rel, quick=args.quick, theory=theory,
                           extended=args.extended)
    with files.atomic_path(report_path) as tmp:
        tmp.write_text(text)
    log(f"done in {timing['wall_seconds'] / 60:.1f} min; wrote {report_path}, {results_dir}/summary.json "
        f"and {len(figures)} figures in {figures_dir}")
    return 0


# Per-example arrays stay in the cache (the report reads them from there): in results/ they
# made fig5.json and fig6.json 8 MB each.
PER_EXAMPLE = ("correct", "broken_by")


def _public(result):
    return {k: v for k, v in result.items() if k not in PER_EXAMPLE}


def _model_record(info):
    keep = ("spec", "test_accuracy", "val_accuracy", "val_accuracy_unpruned", "n_val", "n_test", "train_seconds",
            "first_layer_nonzero", "history")
    return {k: info[k] for k in keep if k in info}


def _settings_record(settings, models):
    rec = {"settings": dataclasses.asdict(settings)}
    for m in models.values():   # names repeat across the sweep and level studies: add the cache key
        rec[f"{m.name} [{m.key()[:8]}]"] = dataclasses.asdict(m)
    return rec


def cli(argv=None):
    """``main`` for the command line: expected failures end in one message, not a traceback."""
    try:
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

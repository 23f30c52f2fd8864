"""The whole reproduction as one function: plan the sections of the registry
(``sections.SECTIONS``), train and attack through the cache, then write the results, the
figures and the report. ``run_all.py`` parses the command line and calls ``reproduce``.
"""
from __future__ import annotations

import dataclasses
import os
import resource
import sys
import time
from pathlib import Path

from .. import data, files
from . import environment, report, sections
from .progress import Progress, attack_cost, train_cost
from .runner import Runner
from .sections import sweep, theory
from .sections.choice import sparse_setting
from .sections.models import record
from .settings import DATASET_KEY, Settings
from .specs import TrainSpec


def _stderr(msg):
    print(msg, file=sys.stderr, flush=True)


def output_folders(out, quick=False, only=None):
    """(results folder, figures folder, REPORT.md path) of a run. Only a full run writes
    ``<out>/results``, ``<out>/figures`` and ``<out>/REPORT.md``; a quick run writes under
    ``quick/`` and a run of some sections (``only``) under ``partial/``, so that neither
    replaces the full summary and report with a subset of their cells."""
    out = Path(out)
    subset = "quick" if quick else "partial" if only else ""
    results_dir, figures_dir = out / "results" / subset, out / "figures" / subset
    return results_dir, figures_dir, (results_dir if subset else out) / "REPORT.md"


def plan(runner, settings, names, extended):
    """{section name: [(cell key, spec)]} and the run's choices: Table 2's sparse network
    (chosen from the sweep's validation numbers, its networks trained or read from the cache
    before anything else is planned) and each choosing section's own."""
    chosen = [sections.BY_NAME[n] for n in names]
    sparse = (sparse_setting(runner, settings, sweep.networks)
              if any(s.sparse or s.name == "sweep" for s in chosen) else None)
    choices = {s.name: sparse_setting(runner, settings, s.chooser.sweep, s.chooser.what, s.chooser.classes)
               for s in chosen if s.chooser is not None and s.chooser.applies(extended)}
    jobs = {s.name: s.jobs(sections.Plan(settings, extended, sparse, choices.get(s.name))) for s in chosen}
    return jobs, sparse, choices


def reproduce(out, data_dir=None, quick=False, extended=False, only=None, seed=0, log=_stderr):
    """Run the sections ``only`` (default: all, and the extended ones with ``extended``)
    with their networks and results cached under ``<out>/cache``; write the results, the
    figures and REPORT.md where ``output_folders`` says. Returns 0."""
    settings = Settings(quick=quick, seed=seed)
    results_dir, figures_dir, report_path = output_folders(out, quick, only)
    runner = Runner(cache_dir=Path(out) / "cache", data_dir=data_dir, log=log)
    names = list(only or list(sections.DEFAULT) + (list(sections.EXTENDED) if extended else []))
    start = time.perf_counter()
    check_data(runner, settings, names, extended)
    jobs, sparse, choices = plan(runner, settings, names, extended)
    run = compute(runner, jobs, settings, log)
    run.sparse, run.choices = sparse, choices
    run.theory = theory.measure(runner, settings, sparse) if "theory" in names else None
    write_sections(run, results_dir)
    sections.cells(run)
    figures = sections.figures(run, figures_dir)
    timing = compute_time(runner, run, start)
    env = environment.describe()
    summ = report.summary(run.cells, run, timing=timing, env=env)
    files.write_json(results_dir / "summary.json", summ)
    rel = [(title, os.path.relpath(Path(p).resolve(), report_path.parent.resolve())) for title, p in figures]
    ctx = report.Context(settings, quick, extended, run.theory, sections.PAPER)
    text = report.markdown(summ, _settings_record(settings, run.models), timing, rel, ctx)
    with files.atomic_path(report_path) as tmp:
        tmp.write_text(text)
    log(f"done in {timing['wall_seconds'] / 60:.1f} min; wrote {report_path}, {results_dir}/summary.json "
        f"and {len(figures)} figures in {figures_dir}")
    return 0


def compute(runner, jobs, settings, log):
    """Train every network and run every attack of ``jobs`` (through the cache), with progress;
    returns the ``sections.Run`` holding their results and metadata by cell key."""
    models, owner = {}, {}           # a network belongs to the first section that uses it
    for name, section_jobs in jobs.items():
        for _, spec in section_jobs:
            model = spec if isinstance(spec, TrainSpec) else spec.model
            models[model.key()] = model
            owner.setdefault(model.key(), name)
    attacks = [(key, spec) for js in jobs.values() for key, spec in js if not isinstance(spec, TrainSpec)]
    todo_models = [m for m in models.values() if not runner.model_path(m).exists()]
    todo_attacks = [a for _, a in attacks if not runner.path(a).exists()]
    progress = Progress(sum(map(train_cost, todo_models)) + sum(map(attack_cost, todo_attacks)), log)
    log(f"{len(models)} networks ({len(todo_models)} to train), {len(attacks)} attack and verification runs "
        f"({len(todo_attacks)} to run); sections: {' '.join(jobs)}")
    for m in models.values():
        cached = runner.model_path(m).exists()
        runner.model(m)
        progress.step(0 if cached else train_cost(m), f"model {m.name}{' (cached)' if cached else ''}")
    results, infos = {}, {}
    for key, spec in attacks:
        cached = runner.path(spec).exists()
        r = results[key] = runner.result(spec)
        progress.step(0 if cached else attack_cost(spec),
                      f"{key}: accuracy {100 * r['robust_accuracy']:.2f}%{' (cached)' if cached else ''}")
    for section_jobs in jobs.values():
        for key, spec in section_jobs:
            if isinstance(spec, TrainSpec):
                infos[key] = runner.model_info(spec)
    run = sections.Run(results, infos, runner=runner, jobs=jobs, settings=settings)
    run.models, run.owner = models, owner
    return run


def write_sections(run, folder):
    """``<folder>/<section>.json``: every job's result (per-example arrays left in the cache,
    where the cells are read from) or network metadata; the theory section's measurements."""
    for name, section_jobs in run.jobs.items():
        out = {key: _public(run.results[key]) if key in run.results else record(run.infos[key])
               for key, _ in section_jobs}
        if name == "theory":
            out["measured"] = run.theory
        files.write_json(folder / f"{name}.json", out)


def compute_time(runner, run, start):
    """What a cold cache costs, per section: every network's training (in the first section
    that uses it) and every attack's run."""
    per = {name: {"train_seconds": 0.0, "attack_seconds": 0.0} for name in run.jobs}
    for key, m in run.models.items():
        per[run.owner[key]]["train_seconds"] += runner.model_info(m)["train_seconds"]
    for name, section_jobs in run.jobs.items():
        per[name]["attack_seconds"] += sum(run.results[k]["wall_seconds"] for k, spec in section_jobs
                                           if not isinstance(spec, TrainSpec))
    if run.theory is not None:
        per["theory"]["attack_seconds"] += run.theory.get("wall_seconds", 0)
    return {"wall_seconds": time.perf_counter() - start,
            "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "compute_seconds": sum(c["train_seconds"] + c["attack_seconds"] for c in per.values()),
            "sections": per}


def check_data(runner, settings, names, extended):
    """Open and check (format and SHA-256) every data file the run will read, before the first
    network trains: a damaged test file must not wait for minutes of training to be found. The
    datasets come from the plan (with the default sparse setting, which uses the same datasets
    as the chosen one) and the sweeps the choices read. Nothing is read when every network and
    attack is cached already."""
    chosen = [sections.BY_NAME[n] for n in names]
    specs = [spec for s in chosen for _, spec in s.jobs(sections.Plan(settings, extended))]
    sweeps = ([sweep.networks] if any(s.sparse or s.name == "sweep" for s in chosen) else []) + \
        [s.chooser.sweep for s in chosen if s.chooser is not None and s.chooser.applies(extended)]
    specs += [spec for net_sweep in sweeps for ds in DATASET_KEY for group in net_sweep(settings, ds).values()
              for spec in group]
    models = [spec if isinstance(spec, TrainSpec) else spec.model for spec in specs]
    cached = (all(runner.model_path(m).exists() for m in models)
              and all(runner.path(a).exists() for a in specs if not isinstance(a, TrainSpec)))
    if cached:
        return
    names_ = {m.dataset for m in models}
    for name in (n for n in data.DATASETS if n in names_):
        for split in data.SPLITS:
            runner.datasets.check(name, split)


# Per-example arrays stay in the cache, where the cells are read from.
PER_EXAMPLE = ("correct", "clean", "broken_by")


def _public(result):
    return {k: v for k, v in result.items() if k not in PER_EXAMPLE}


def _settings_record(settings, models):
    rec = {"settings": dataclasses.asdict(settings)}
    for m in models.values():   # names repeat across the sweep and level studies: add the cache key
        rec[f"{m.name} [{m.key()[:8]}]"] = dataclasses.asdict(m)
    return rec

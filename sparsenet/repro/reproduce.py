"""The whole reproduction as one function: plan the sections, train and attack through
the cache, then write the results, the figures and the report. ``run_all.py`` parses the
command line and calls ``reproduce``.
"""
from __future__ import annotations

import dataclasses
import os
import resource
import sys
import time
from pathlib import Path

from .. import data, files
from . import beyond, environment, plots, report
from .plan import plan, sparse_setting, sweep_networks
from .progress import Progress, attack_cost, train_cost
from .runner import Runner
from .settings import DATASET_KEY, EXTENDED_SECTIONS, SECTIONS, Settings
from .specs import AttackSpec, TrainSpec
from .theory_study import theory_results


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


def reproduce(out, data_dir=None, quick=False, extended=False, only=None, seed=0, log=_stderr):
    """Run the sections ``only`` (default: all, and the extended ones with ``extended``)
    with their networks and results cached under ``<out>/cache``; write the results, the
    figures and REPORT.md where ``output_folders`` says. Returns 0."""
    out = Path(out)
    settings = Settings(quick=quick, seed=seed)
    results_dir, figures_dir, report_path = output_folders(out, quick, only)
    runner = Runner(cache_dir=out / "cache", data_dir=data_dir, log=log)
    sections = list(only or list(SECTIONS) + (list(EXTENDED_SECTIONS) if extended else []))
    start = time.perf_counter()

    # Table 2's sparse network is chosen from the l1 sweep's validation numbers: its
    # networks are trained (or read from the cache) before anything else is planned.
    # The open questions' sparse networks are chosen the same way, from their own sweeps.
    uses_sparse = {"b2", "table2", "sweep", "fig5", "fig6", "theory", "adaptive", "combined"}
    check_data(runner, settings, sections, extended, uses_sparse & set(sections))
    sparse = sparse_setting(runner, settings) if uses_sparse & set(sections) else None
    choices = {s: sparse_setting(runner, settings, s) for s in ("combined", "multiclass") if s in sections}
    jobs = {s: plan(s, settings, sparse, extended=extended, choice=choices.get(s)) for s in sections}
    owner, models = {}, {}           # a network belongs to the first section that uses it
    for section, section_jobs in jobs.items():
        for _, spec in section_jobs:
            model = spec if isinstance(spec, TrainSpec) else spec.model
            models[model.key()] = model
            owner.setdefault(model.key(), section)
    attacks = [(key, spec) for js in jobs.values() for key, spec in js if isinstance(spec, AttackSpec)]
    todo_models = [m for m in models.values() if not runner.model_path(m).exists()]
    todo_attacks = [a for _, a in attacks if not runner.attack_path(a).exists()]
    progress = Progress(sum(map(train_cost, todo_models)) + sum(map(attack_cost, todo_attacks)), log)
    log(f"{len(models)} networks ({len(todo_models)} to train), {len(attacks)} attack runs "
        f"({len(todo_attacks)} to run); sections: {' '.join(sections)}")

    for m in models.values():
        cached = runner.model_path(m).exists()
        runner.model(m)
        progress.step(0 if cached else train_cost(m), f"model {m.name}{' (cached)' if cached else ''}")
    results, infos = {}, {}
    for key, spec in attacks:
        cached = runner.attack_path(spec).exists()
        r = results[key] = runner.attack(spec)
        progress.step(0 if cached else attack_cost(spec),
                      f"{key}: accuracy {100 * r['robust_accuracy']:.2f}%{' (cached)' if cached else ''}")
    for section_jobs in jobs.values():
        for key, spec in section_jobs:
            if isinstance(spec, TrainSpec):
                infos[key] = runner.model_info(spec)

    theory = theory_results(runner, settings, sparse) if "theory" in sections else None
    for section, section_jobs in jobs.items():
        record = {key: _public(results[key]) if key in results else _model_record(infos[key])
                  for key, _ in section_jobs}
        if section == "theory":
            record["measured"] = theory
        files.write_json(results_dir / f"{section}.json", record)
    figures = plots.paper_figures(results, figures_dir)
    figures += plots.study_figures(results, infos, figures_dir)
    reproduced = report.cells(results, infos, settings)
    reproduced.update(beyond.certified(runner, jobs))
    figures += plots.beyond_figures(reproduced, figures_dir)
    if theory is not None:
        figures += plots.theory_figures(theory, figures_dir)
    # What a cold cache costs, per section: every network's training (in the first section
    # that uses it) and every attack's run.
    compute = {s: {"train_seconds": 0.0, "attack_seconds": 0.0} for s in sections}
    for key, m in models.items():
        compute[owner[key]]["train_seconds"] += runner.model_info(m)["train_seconds"]
    for section, section_jobs in jobs.items():
        compute[section]["attack_seconds"] += sum(results[k]["wall_seconds"] for k, spec in section_jobs
                                                  if isinstance(spec, AttackSpec))
    if theory is not None:
        compute["theory"]["attack_seconds"] += theory.get("wall_seconds", 0)
    timing = {"wall_seconds": time.perf_counter() - start,
              "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
              "compute_seconds": sum(c["train_seconds"] + c["attack_seconds"] for c in compute.values()),
              "sections": compute}
    env = environment.describe()
    summ = report.summary(reproduced, results, infos, sparse=sparse, timing=timing, env=env, choices=choices)
    files.write_json(results_dir / "summary.json", summ)
    rel = [(title, os.path.relpath(Path(p).resolve(), report_path.parent.resolve())) for title, p in figures]
    text = report.markdown(summ, _settings_record(settings, models), timing, rel, quick=quick, theory=theory,
                           extended=extended)
    with files.atomic_path(report_path) as tmp:
        tmp.write_text(text)
    log(f"done in {timing['wall_seconds'] / 60:.1f} min; wrote {report_path}, {results_dir}/summary.json "
        f"and {len(figures)} figures in {figures_dir}")
    return 0


def check_data(runner, settings, sections, extended, sweep):
    """Open and check (format and SHA-256) every data file the run will read, before the
    first network trains: a damaged test file must not wait for minutes of training to be
    found. The datasets come from the plan (with the default sparse setting, which uses the
    same datasets as the chosen one) and, with ``sweep``, the l1 sweep. Nothing is read when
    every network and attack is cached already."""
    specs = [spec for section in sections for _, spec in plan(section, settings, None, extended=extended)]
    studies = (["table2"] if sweep else []) + [s for s in ("combined", "multiclass") if s in sections]
    specs += [spec for study in studies for ds in DATASET_KEY
              for group in sweep_networks(settings, study, ds).values() for spec in group]
    models = [spec if isinstance(spec, TrainSpec) else spec.model for spec in specs]
    cached = (all(runner.model_path(m).exists() for m in models)
              and all(runner.attack_path(a).exists() for a in specs if isinstance(a, AttackSpec)))
    if cached:
        return
    names = {m.dataset for m in models}
    for name in (n for n in data.DATASETS if n in names):
        for split in data.SPLITS:
            runner.datasets.check(name, split)


# Per-example arrays stay in the cache (the report reads them from there): in results/ they
# made fig5.json and fig6.json 8 MB each.
PER_EXAMPLE = ("correct", "clean", "broken_by")


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

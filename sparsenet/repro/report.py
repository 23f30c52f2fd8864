"""Turn the sections' cells into ``results/summary.json`` and ``REPORT.md``.

A *cell* is one number (``table1/pgd/frontend``...), with the number of test images it was
measured on; each section derives its own (``sections``). ``summary()`` pairs every cell with
the paper's value, its 95% Wilson interval and its spread over training seeds;
``markdown()`` opens REPORT.md, puts the sections' parts in the registry's order, and closes
it with the cells far from the paper, the time each section took, the figures and the
settings. Keys of results from another training seed than the run's own end in ``@<seed>``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..stats import accuracy_interval, aggregate
from . import environment, sections
from .sections import adaptive, sweep
from .sections.base import unseeded
from .sections.text import notes
from .settings import DATASET_KEY


@dataclass(frozen=True)
class Context:
    """What a section's part of REPORT.md may need besides summary.json."""
    settings: object
    quick: bool = False
    extended: bool = False
    theory: dict | None = None
    paper: dict | None = None


def summary(reproduced, run, timing=None, env=None):
    """summary.json: ``{key: {"paper": value or None, "ours": value, "n": images}}`` for every
    cell, and beside them ``<key>/ci95`` (the Wilson interval, %), and for cells measured over
    several training seeds ``<key>/mean``, ``/std``, ``/min``, ``/max``, ``/seeds`` and
    ``/paper_in_seed_range``. Then Table 2's chosen sparse setting, the sections' own entries
    (their sanity checks), the other sections' chosen settings, the compute time per section
    and (``environment``) the software and machine of the run."""
    out = {}
    for key, (value, n) in sorted(reproduced.items()):
        out[key] = {"paper": sections.PAPER.get(key), "ours": _round(value), "n": n}
        if n and value is not None and np.isfinite(value):      # an accuracy (or share) over n images
            lo, hi = accuracy_interval(value / 100, n)
            out[f"{key}/ci95"] = {"paper": None, "ours": [_round(100 * lo), _round(100 * hi)]}
    out.update(_seed_spread(reproduced))
    for ds, (l1, rule) in (run.sparse or {}).items():
        out[sweep.chosen_key(DATASET_KEY[ds], "l1")] = {"paper": None, "ours": l1}
        out[sweep.chosen_key(DATASET_KEY[ds], "rule")] = {"paper": None, "ours": rule}
    for section in sections.SECTIONS:
        if section.summary is not None and section.name in run.jobs:
            out.update(section.summary(reproduced, run))
    for name, choice in run.choices.items():
        for ds, (l1, rule) in choice.items():
            out[sections.BY_NAME[name].chooser.key(DATASET_KEY[ds], "l1")] = {"paper": None, "ours": l1}
            out[sections.BY_NAME[name].chooser.key(DATASET_KEY[ds], "rule")] = {"paper": None, "ours": rule}
    for section, t in ((timing or {}).get("sections") or {}).items():
        for what, seconds in t.items():
            out[f"timing/{section}/{what}"] = {"paper": None, "ours": round(seconds, 1)}
    if env is not None:
        out["environment"] = {"paper": None, "ours": env}
    return out


def _seed_spread(reproduced):
    """``<key>/mean``, ``/std``, ``/min``, ``/max``, ``/seeds`` (and ``/paper_in_seed_range``)
    of every cell measured over several training seeds."""
    out, groups = {}, {}
    for key, (value, _) in reproduced.items():
        if value is not None and np.isfinite(value):
            groups.setdefault(unseeded(key)[0], []).append(value)
    for key, values in sorted(groups.items()):
        if len(values) > 1:
            agg = aggregate(values)
            for stat in ("mean", "std", "min", "max"):
                out[f"{key}/{stat}"] = {"paper": None, "ours": _round(agg[stat])}
            out[f"{key}/seeds"] = {"paper": None, "ours": agg["n"]}
            if key in sections.PAPER:
                inside = agg["min"] - 1e-9 <= sections.PAPER[key] <= agg["max"] + 1e-9
                out[f"{key}/paper_in_seed_range"] = {"paper": None, "ours": bool(inside)}
    return out


def _round(v):
    if v is None or isinstance(v, (bool, str)):
        return v
    return None if not np.isfinite(v) else round(float(v), 4)


def markdown(summ, settings, timing, figures, ctx):
    """REPORT.md: the opening, every section's part in ``sections.REPORT`` order, then the cells
    more than 5 points from the paper, the time, the figures and the settings."""
    lines = _opening(summ, timing, ctx)
    for part in sections.REPORT:
        lines += part(summ, ctx)
    lines += _far_from_paper(summ)
    lines += _timing_lines(timing)
    if figures:
        lines += ["", "## Figures", ""]
        for title, path in figures:
            lines += [f"### {title}", "", f"![{title}]({path})", ""]
    lines += ["", "## Settings", "", "```"]
    lines += [f"{k}: {v}" for k, v in settings.items()]
    lines += ["```", ""]
    return "\n".join(lines)


def _opening(summ, timing, ctx):
    lines = ["# sparsenet: reproduction report", ""]
    if ctx.quick:
        lines += ["**Quick mode** (small subsets, few epochs and iterations): these numbers only "
                  "show that every code path runs; they are not the reproduction.", ""]
    compute = timing.get("compute_seconds")
    command = "python run_all.py" + (" --quick" if ctx.quick else "") + (" --extended" if ctx.extended else "")
    lines += [f"Produced by `{command}`"
              + (f"; its networks and attacks take {compute / 60:.1f} minutes of training and attack time "
                 "from a cold cache (per section below; a second run reads the cache)" if compute else "")
              + ". Accuracies in %. Every accuracy carries its 95% Wilson interval over the test images it was "
              "measured on [in brackets]; the binary experiments also show their spread over "
              f"{summ.get('table2/mnist/none/seeds', {}).get('ours', 1)} training seeds.", ""]
    if "environment" in summ:
        lines += [environment.markdown_line(summ["environment"]["ours"]), ""]
    lines += adaptive.headline(summ)
    lines += ["**Two metrics, named apart.** The paper's tables and figures (Tables 1–2, Figures 5–7, the sweep, the "
              "level, ρ and basis studies' PGD column, every *locally linear* column) report the plain accuracy on "
              "the adversarial images, as the paper does (`adversarial_accuracy`). Every *worst case*, *suite*, "
              "*after* and *alone* number is the robust accuracy (`robust_accuracy`): the share of all test images "
              "classified correctly both clean and under attack, AutoAttack's definition. The two differ only when "
              "an attack moves a misclassified image into its class.", ""]
    return lines


def _far_from_paper(summ):
    """Every cell more than 5 points from the paper's, with the note written for it."""
    explained = {k: v for section in sections.SECTIONS for k, v in notes(section.name).items()}
    off = [k for k, c in summ.items() if c.get("paper") is not None and c.get("ours") is not None
           and abs(c["ours"] - c["paper"]) > 5 and not k.startswith("fig7/")]
    lines = ["", "## Cells more than 5 points from the paper", ""]
    if not off:
        lines.append("None.")
    for k in off:
        inside = summ.get(f"{k}/paper_in_seed_range", {}).get("ours")
        seed_note = "" if inside is None else (" The paper's value is inside our seed range." if inside else
                                              " The paper's value is outside our seed range.")
        lines.append(f"- `{k}` (paper {summ[k]['paper']:.2f}, ours {summ[k]['ours']:.2f}): "
                     f"{explained.get(k, 'no explanation recorded yet.')}{seed_note}")
    return lines


def _timing_lines(timing):
    per_section = (timing or {}).get("sections") or {}
    if not per_section:
        return []
    lines = ["", "## Where the time goes", "",
             "Compute time of each section from a cold cache (a network counts in the first section that uses it):",
             "", "| section | training (min) | attacks (min) |", "|---|---:|---:|"]
    for s, t in per_section.items():
        train, attack = round(t.get("train_seconds", 0), 1), round(t.get("attack_seconds", 0), 1)
        lines.append(f"| {s} | {train / 60:.1f} | {attack / 60:.1f} |")
    total = sum(round(v, 1) for t in per_section.values() for v in t.values())
    lines.append(f"| all | | {total / 60:.1f} in all |")
    return lines

"""The reproduction, one unit per section: each module holds what its section trains and
attacks (``jobs``), the numbers it derives from their results (``cells``, under keys that
its own functions build and read), its figures and its part of REPORT.md. This registry
lists them; ``reproduce``, ``report`` and the plan iterate over it and name no section.

Adding a study is a module here with a ``SECTION`` and its line in ``SECTIONS`` (and in
``REPORT`` and ``FIGURES`` where its report part and figures go): see ``../README.md``.
"""
from __future__ import annotations

from pathlib import Path

from . import (accuracy_vs_eps, adaptive, b2, combined, fig7, frontend_studies, learned_basis, levels, multiclass,
               open_questions, sweep, table1, table2, theory, verify)
from .base import Chooser, Plan, Run, Section, seeded, unseeded

# In run order. A network belongs to the first section that uses it (for the time table).
SECTIONS = (b2.SECTION, table1.SECTION, table2.SECTION, sweep.SECTION, accuracy_vs_eps.FIG5, accuracy_vs_eps.FIG6,
            fig7.SECTION, theory.SECTION, adaptive.SECTION, levels.SECTION, frontend_studies.RHO,
            frontend_studies.BASIS, combined.SECTION, multiclass.SECTION, learned_basis.SECTION, verify.SECTION)
BY_NAME = {section.name: section for section in SECTIONS}
DEFAULT = tuple(s.name for s in SECTIONS if not s.extended)
EXTENDED = tuple(s.name for s in SECTIONS if s.extended)
PAPER = {k: v for section in SECTIONS for k, v in section.paper.items()}


def open_questions_sanity(summ, ctx):
    return open_questions.sanity_table(summ, combined.evaluated() + multiclass.evaluated() + learned_basis.evaluated())


# REPORT.md's parts after its opening, in order: (summ, ctx) -> lines.
REPORT = (table1.report, table2.report, sweep.report, levels.report, b2.report, fig7.report, adaptive.report,
          verify.report,
          frontend_studies.RHO.report, frontend_studies.BASIS.report, open_questions.opening, combined.report,
          multiclass.report, learned_basis.report, open_questions_sanity, theory.report)


def open_questions_figure(run, folder):
    from ..defenses import DEFENSES
    panels = [(f"fc2 {label}: {DEFENSES['combined'].label}", combined.stem(k, "combined"),
               {"sparse net alone": adaptive.base(f"fc2-{k}/sparse"),
                "front end alone": adaptive.base(f"fc2-{k}/frontend")})
              for k, label in (("mnist", "MNIST 3 vs 7"), ("fashion", "Fashion"))]
    panels += [(f"fc10 {label}: sparse", multiclass.stem(k, "sparse"), {}) for k, label in multiclass.TASKS]
    path = open_questions.against_eps(run.cells, panels, folder / "beyond_eps.png")
    return [] if path is None else [("Beyond the paper — the new defenses against ε: a reduced suite, the paper's "
                                     "attack, and the full worst case at ε = 0.25", path)]


# REPORT.md's figures, in order: (run, folder) -> [(title, path)].
FIGURES = (accuracy_vs_eps.FIG5.figures, accuracy_vs_eps.FIG6.figures, fig7.figures, adaptive.figures, verify.figures,
           frontend_studies.RHO.figures, frontend_studies.BASIS.figures, open_questions_figure, theory.figures)

def cells(run):
    """Every section's cells, derived in run order (a section may read an earlier one's):
    ``run.cells`` updated and returned."""
    for section in SECTIONS:
        if not run.jobs or section.name in run.jobs:
            run.cells.update(section.cells(run))
    return run.cells


def figures(run, folder):
    """Every figure whose results exist, in REPORT.md's order: [(title, path)]."""
    return [fig for draw in FIGURES for fig in draw(run, Path(folder))]


def jobs(name, settings, sparse=None, extended=False, choice=None):
    """The jobs of the section called ``name``: [(cell key, TrainSpec or AttackSpec)]."""
    if name not in BY_NAME:
        raise ValueError(f"unknown section {name!r}; choose from {tuple(BY_NAME)}")
    return BY_NAME[name].jobs(Plan(settings, extended, sparse, choice))


__all__ = ["BY_NAME", "Chooser", "DEFAULT", "EXTENDED", "FIGURES", "PAPER", "Plan", "REPORT", "Run", "SECTIONS",
           "cells", "figures", "jobs", "open_questions_sanity",
           "Section", "seeded", "unseeded"]

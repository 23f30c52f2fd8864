"""What a section is: a name, the jobs it plans, the cells it derives from their results, its
figures and its part of REPORT.md (``Section``); what it plans from (``Plan``) and derives
from (``Run``); and the one pair of functions that builds and reads a key's training seed.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..settings import Settings


def _none(*args, **kwargs):
    return []


@dataclass(frozen=True)
class Section:
    """One section of the reproduction.

    ``jobs(plan)`` -> [(cell key, TrainSpec or AttackSpec)]: what it trains and attacks.
    ``cells(run)`` -> {key: (value, n)}: its numbers (accuracies in %, n the test images
    behind them, None for other quantities), from ``run.results`` and ``run.infos``.
    ``figures(run, folder)`` -> [(title, path)]. ``report(summ, ctx)`` -> lines of
    REPORT.md. ``summary(cells, run)`` -> {key: summary entry} written after the cells (its
    sanity checks). ``extended``: only with ``--extended``; ``sparse``: plans with Table 2's
    sparse network; ``chooser``: a ``Chooser`` when it chooses its own sparse network from its
    own sweep; ``paper``: the paper's values of its cells.
    """
    name: str
    jobs: object
    cells: object = _none
    figures: object = _none
    report: object = _none
    summary: object = None
    extended: bool = False
    sparse: bool = False
    chooser: object = None
    paper: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Chooser:
    """How a section chooses its sparse network (``choice.sparse_setting``): ``sweep(s,
    dataset)`` -> {(l1, rule): [TrainSpec per seed]}, ``key(dataset key, "l1" or "rule")``
    -> the summary key of the choice, ``classes`` (L), ``what`` (its log line's name), and
    ``extended_only``: chosen only with ``--extended`` (for a section whose choosing part is)."""
    sweep: object
    key: object
    what: str
    classes: int = 2
    extended_only: bool = False

    def applies(self, extended):
        return extended or not self.extended_only


@dataclass(frozen=True)
class Plan:
    """What a section plans its jobs from: the run's ``settings``, ``extended``, Table 2's
    sparse network (``sparse``: {dataset: (l1, rule)}) and the section's own choice
    (``choice``, for a section that ``chooses``)."""
    settings: Settings
    extended: bool = False
    sparse: dict | None = None
    choice: dict | None = None


@dataclass
class Run:
    """What a section derives its cells and figures from: the attack results and the model
    metadata of every job of the run, by cell key; the cells derived so far (earlier
    sections'); the runner (for what reads networks); the jobs per section; the run's
    settings, Table 2's sparse setting, the sections' own choices ({section: {dataset:
    (l1, rule)}}) and the theory section's measurements."""
    results: dict
    infos: dict
    cells: dict = field(default_factory=dict)
    runner: object = None
    jobs: dict = field(default_factory=dict)
    settings: Settings = field(default_factory=Settings)
    sparse: dict | None = None
    choices: dict = field(default_factory=dict)
    theory: dict | None = None


# -- a key's training seed: built and read by this pair only ---------------------------------
def seeded(key, seed, s):
    """The cell key of a result for training seed ``seed``: the plain key for the run's own
    seed, ``key@<seed>`` for the others."""
    return key if seed == s.seed else f"{key}@{seed}"


def unseeded(key):
    """(key without its seed, the seed suffix "@<seed>" or ""): ``seeded`` undone."""
    stem, _, seed = key.partition("@")
    return stem, f"@{seed}" if seed else ""

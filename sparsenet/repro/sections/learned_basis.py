"""The paper's third open question (Section 6), under the worst case (``--extended``): does a
basis learned from data beat the wavelet? The front end in the principal directions of the
training images (``frontend.pca_basis``), on cnn4 in the setting of the ρ and basis studies:
one more basis beside CDF 9/7, Haar, db4 and the DCT."""
from __future__ import annotations

from ...frontend import LEARNED
from ..settings import EPS
from ..specs import attack_spec
from . import evaluation, frontend_studies, open_questions
from .base import Section
from .frontend_studies import BASIS_LABEL, BASIS_SWEEP, STUDY_SUITE
from .models import model_cells
from .text import ci, fmt, get, notes

NAME = "learned-basis"
BASE = "beyond/learned-basis"
EPS_GRID = (0.1, 0.25, 0.4, 0.5)   # accuracy against eps, a short grid


def key(what):
    """``beyond/learned-basis/<what>``: "clean", "pgd", or a cell of the adaptive evaluation."""
    return f"{BASE}/{what}"


def jobs(plan):
    """The basis study's setting (its epochs, test images, PGD and reduced worst case), plus
    each attack alone and accuracy against eps on the first images, for the sanity checks."""
    s, a = plan.settings, plan.settings.adaptive
    n = frontend_studies.n_test(s)
    model = frontend_studies.study_model(s, "basis", LEARNED)
    out = [(key("clean"), model),
           (key("pgd"), attack_spec(model, "pgd", EPS, n, delta=EPS / 20, iterations=s.iterations, rng=s.seed))]
    reduced = evaluation.worst_case_spec(model, STUDY_SUITE, n, s, queries=a["eps_queries"], restarts=1)
    return out + evaluation.network_jobs(BASE, model, STUDY_SUITE, s, n_suite=n, n_alone=a["eps_n"], n_eps=a["eps_n"],
                                         eps_grid=EPS_GRID, budgets=False, suite_spec=reduced)


def cells(run):
    out = {}
    if key("clean") in run.infos:
        out.update(model_cells(key("clean"), run.infos[key("clean")], BASE))
    if key("pgd") in run.results:
        out[key("pgd")] = (100 * run.results[key("pgd")]["adversarial_accuracy"], run.results[key("pgd")]["n"])
    out.update(open_questions.evaluated_cells(run.results, BASE, STUDY_SUITE))
    return out


def evaluated():
    return [(BASE, "cnn4-learned/frontend")]


def basis_rows(summ):
    """The basis study's table gets this basis as one more row."""
    return [("learned (PCA; see *Beyond the paper*)", BASE)] if key("clean") in summ else []


def report(summ, ctx):
    if not any(k.startswith(BASE + "/") for k in summ):
        return []
    lines = ["", "### A basis learned from data (cnn4, ρ = 3%)", "",
             "The principal directions of the training images (uncentered PCA by SVD) as the front end's "
             "orthonormal basis, in the setting of the basis study above (4 epochs, the same test images, PGD "
             f"and the worst case over {', '.join(STUDY_SUITE)}); the row appears in that study's table too.", "",
             "| basis | clean | PGD (final iterate) | worst case [95% CI] |", "|---|---:|---:|---:|"]
    for label, b in [("learned (PCA)", BASE)] + [(BASIS_LABEL[v], frontend_studies.stem("basis", v))
                                                  for v in BASIS_SWEEP]:
        if get(summ, f"{b}/clean") is not None:
            lines.append(f"| {label} | {fmt(get(summ, b + '/clean'))} | {fmt(get(summ, b + '/pgd'))} | "
                         f"**{fmt(get(summ, b + '/worst_case'))}**{ci(summ, b + '/worst_case')} |")
    text = notes(NAME).get("conclusion")
    return lines + ["", " ".join([*paragraph(summ), *([text] if text else [])])]


def paragraph(summ):
    wc, clean = get(summ, key("worst_case")), get(summ, key("clean"))
    if wc is None:
        return []
    known = {BASIS_LABEL[v]: get(summ, frontend_studies.key("basis", v, "worst_case")) for v in BASIS_SWEEP}
    known = {b: v for b, v in known.items() if v is not None}
    text = f"With the learned basis cnn4 keeps {clean:.2f}% clean and {wc:.2f}% under the worst case"
    if known:
        best = max(known, key=known.get)
        text += f"; the best fixed basis, {best}, keeps {known[best]:.2f}%"
    return [text + "."]


SECTION = Section(NAME, jobs, cells, report=report, extended=True,
                  summary=lambda cells_, run: open_questions.sanity_summary(cells_, evaluated()))

"""The front end's wavelet level (``--extended``): evidence for the level of the CDF 9/7
decomposition (Section 3.1's take-away: coarser levels have less localized basis functions):
clean accuracy and the strongest attacks, cnn4 on the first 1,000 test images and fc2."""
from __future__ import annotations

from ..settings import EPS
from ..specs import attack_spec
from .base import Section
from .models import model_cells
from .text import fmt, get

LEVELS = (1, 2)


def key(arch, level, what):
    """``levels/<arch>/<level>/<what>``: what "clean", "pgd" (cnn4) or "ll-white" (fc2)."""
    return f"levels/{arch}/{level}/{what}"


def jobs(plan):
    s, out = plan.settings, []
    n = 100 if s.quick else 1000
    for level in LEVELS:
        cnn = s.cnn4("frontend", level=level)
        out.append((key("cnn4", level, "clean"), cnn))
        out.append((key("cnn4", level, "pgd"), attack_spec(cnn, "pgd", EPS, n, delta=EPS / 20, iterations=s.iterations,
                                                           rng=s.seed, stop_on_success=True)))
        fc = s.fc2("mnist", "frontend", level=level)
        out.append((key("fc2", level, "clean"), fc))
        out.append((key("fc2", level, "ll-white"), attack_spec(fc, "ll", EPS, mode="white")))
    return out


def cells(run):
    out = {}
    for level in LEVELS:
        for arch, attack in (("cnn4", "pgd"), ("fc2", "ll-white")):
            clean = key(arch, level, "clean")
            if clean in run.infos:
                out.update(model_cells(clean, run.infos[clean], f"levels/{arch}/{level}"))
            r = run.results.get(key(arch, level, attack))
            if r is not None:
                out[key(arch, level, attack)] = (100 * r["adversarial_accuracy"], r["n"])
    return out


def report(summ, ctx):
    levels = [lv for lv in LEVELS if any(key(a, lv, w) in summ for a, w in (("cnn4", "clean"), ("fc2", "clean")))]
    if not levels:
        return []
    lines = ["", "## Choice of the wavelet level (CDF 9/7, ρ = 3%; `--extended`)", "",
             "cnn4: clean accuracy (all test images) and PGD (ε = 0.25, δ = ε/20, 80 iterations; an example counts "
             "as broken once any iterate fools the network) on the first 1,000; "
             "fc2 MNIST 3 vs 7: clean and the white-box locally linear attack (ε = 0.25).", "",
             "| level | cnn4 clean | cnn4 PGD | fc2 clean | fc2 white box |", "|---:|---:|---:|---:|---:|"]
    for lv in levels:
        vals = [get(summ, key(a, lv, m)) for a, m in (("cnn4", "clean"), ("cnn4", "pgd"), ("fc2", "clean"),
                                                      ("fc2", "ll-white"))]
        lines.append(f"| {lv} | " + " | ".join(fmt(v) for v in vals) + " |")
    return lines


SECTION = Section("levels", jobs, cells, report=report, extended=True)

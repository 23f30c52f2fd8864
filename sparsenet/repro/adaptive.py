"""The adaptive evaluation's numbers, from the cached attack results: each
network's worst case over everything run against it, each attack's own accuracy, and
the sanity checks of Carlini et al. (2019, "On Evaluating Adversarial Robustness") that
tell a real robustness number from an artefact of a weak or masked attack.

A per-example verdict is what makes a worst case: every attack result carries
``correct`` (was the example still classified correctly on the attack's output?), and
an example is robust only if it is correct under every attack run on it.
"""
from __future__ import annotations

import numpy as np

from .settings import ADAPTIVE_EPS, BUDGET_ROLES, SUITES

GRADIENT_FREE = ("square",)
BLACK_BOX = ("transfer", "noise")
MASKING_MARGIN = 1.0      # points by which Square may beat the gradient attacks before we flag it
BUDGET_MARGIN = 2.0       # points by which 4x iterations or 5 restarts may still lower APGD-CE


def paper_attack_keys(network, suffix=""):
    """The result keys of the paper's own attacks on a network (all test images)."""
    if network.startswith("cnn4/"):
        defense = network.split("/")[1]
        return [f"table1/{a}/{defense}{suffix}" for a in ("ll-semi-white", "ll-white", "fgsm", "ifgsm", "mifgsm",
                                                          "pgd")]
    ds, defense = network[len("fc2-"):].split("/")
    modes = ("semi-white", "white") if defense == "frontend" else ("",)
    return [f"table2/{ds}/{defense}{'-' + m if m else ''}{suffix}" for m in modes]


def correct(result):
    return np.asarray(result["correct"], bool)


def verdict(result):
    """Per-example correctness on an attack's output, counting any iterate when recorded."""
    ok = correct(result)
    return ok & correct(result["any_iterate"]) if "any_iterate" in result else ok


def paper_eps_keys(results, network, eps):
    """The result keys of the paper's attacks at ``eps`` on a network: cnn4, the PGD run of
    the eps sweep; fc2, every curve of Figure 5 or 6 for its defense (the run's own seed)."""
    if network.startswith("cnn4/"):
        key = f"adaptive/{network}/eps/{eps:g}/paper"
        return [key] if key in results else []
    ds, defense = network[len("fc2-"):].split("/")
    prefix = {"none": "no defense", "sparse": "sparse net", "frontend": "front end"}[defense]
    figure = "fig5" if ds == "mnist" else "fig6"
    return [k for k in results if k.startswith(f"{figure}/{prefix}") and k.endswith(f"/{eps:g}") and "@" not in k]


def worst_case(results, network):
    """(robust accuracy in %, n) of the per-example worst case over the suite and the
    paper's attacks on all test images; None when the suite has not run."""
    base = f"adaptive/{network}"
    return network_cells(results, base, _kind(network), paper_attack_keys(network)).get(f"{base}/worst_case")


def cells(results):
    """{key: (value in %, n)} for the adaptive section (see REPORT.md's "Adaptive evaluation")."""
    out = {}
    for network, kind in _networks(results):
        base = f"adaptive/{network}"
        out.update(network_cells(results, base, kind, paper_attack_keys(network),
                                 lambda eps, network=network: paper_eps_keys(results, network, eps)))
    return out


def network_cells(results, base, kind, paper_keys=(), paper_eps=lambda eps: []):
    """The cells of one network evaluated like the adaptive section, from the results under
    ``base`` (``<base>/suite``, ``<base>/alone/<attack>``, ``<base>/budget/<role>``,
    ``<base>/eps/<eps>/worst``): its worst case (the suite and the results ``paper_keys``,
    per example), each attack alone, the budgets and accuracy against eps, where the
    worst case at each eps takes in the results ``paper_eps(eps)``. ``kind`` names its
    suite in ``SUITES``. A paper result measured on more test images than the suite
    counts on the suite's images (the first ones)."""
    out = {}
    suite = results.get(f"{base}/suite")
    if suite is None:
        return out
    n = suite["n"]
    ok = correct(suite)
    for key in paper_keys:
        r = results.get(key)
        if r is not None and "correct" in r and len(r["correct"]) >= len(ok):
            ok = ok & verdict(r)[:len(ok)]
    out[f"{base}/worst_case"] = (100 * float(ok.mean()), int(len(ok)))
    out[f"{base}/suite"] = (100 * suite["robust_accuracy"], n)
    out[f"{base}/clean"] = (100 * suite["clean_accuracy"], n)
    for name, acc in suite["accuracy_after"].items():
        if name != "clean":
            out[f"{base}/after/{name}"] = (100 * acc, n)
    alone = {}
    for name in SUITES[kind] + ("noise",):
        r = results.get(f"{base}/alone/{name}")
        if r is not None:
            alone[name] = r
            out[f"{base}/{name}"] = (100 * r["robust_accuracy"], r["n"])
    ce = [r for name, r in alone.items() if name.startswith("apgd-ce")]
    if ce:
        out[f"{base}/apgd-ce"] = (100 * min(r["robust_accuracy"] for r in ce), ce[0]["n"])
    gradient = [r for name, r in alone.items() if name not in GRADIENT_FREE + BLACK_BOX]
    if gradient:
        ok = np.logical_and.reduce([correct(r) for r in gradient])
        out[f"{base}/gradient_worst"] = (100 * float(ok.mean()), int(len(ok)))
    for role in BUDGET_ROLES:
        r = results.get(f"{base}/budget/{role}")
        if r is not None:
            out[f"{base}/budget/{role}"] = (100 * r["robust_accuracy"], r["n"])
    for eps in ADAPTIVE_EPS:
        paper = [k for k in paper_eps(eps) if k in results]
        r = results.get(f"{base}/eps/{eps:g}/worst")
        if paper:   # on all the images the paper's attack ran on
            ok = np.logical_and.reduce([verdict(results[k]) for k in paper])
            out[f"{base}/eps/{eps:g}/paper"] = (100 * float(ok.mean()), int(len(ok)))
        if r is not None:   # the worst case takes the paper's attack at this eps in too
            ok = correct(r)
            for k in paper:
                if len(results[k]["correct"]) >= len(ok):
                    ok = ok & verdict(results[k])[:len(ok)]
            out[f"{base}/eps/{eps:g}/worst"] = (100 * float(ok.mean()), int(len(ok)))
    return out


def sanity(cells_, network, paper_cells, base=None):
    """The sanity checks for one network: a list of (check, passed, what was measured).

    ``cells_`` is ``cells(results)`` (values in %); ``paper_cells`` the reproduced cells of
    the paper's tables (for single-step vs iterative). ``base``: where the network's cells
    are (``adaptive/<network>`` by default); a cnn4 network is checked against Table 1, any
    other against its own ``<base>/paper_attack`` cell."""
    base = base or f"adaptive/{network}"
    get = lambda k: (cells_.get(f"{base}/{k}") or (None,))[0]     # noqa: E731
    checks = []
    eps_curve = [(e, get(f"eps/{e:g}/worst")) for e in ADAPTIVE_EPS if get(f"eps/{e:g}/worst") is not None]
    if eps_curve:
        zero = next((e for e, v in eps_curve if v == 0), None)
        last_e, last_v = eps_curve[-1]
        checks.append(("accuracy falls to 0 as ε grows", zero is not None,
                       f"0% at ε = {zero:g}" if zero is not None else f"stalls at {last_v:.1f}% (ε = {last_e:g})"))
    b1, b4, b5 = get("budget/base"), get("budget/iterations"), get("budget/restarts")
    if None not in (b1, b4, b5):
        drop = max(b1 - b4, b1 - b5)
        checks.append(("more iterations (100 → 400) or restarts (1 → 5) change little", drop <= BUDGET_MARGIN,
                       f"APGD-CE {b1:.1f}% → {b4:.1f}% (4x the iterations), {b5:.1f}% (5 restarts)"))
    if network.startswith("cnn4/"):
        d = network.split("/")[1]
        single, iterative = paper_cells.get(f"table1/fgsm/{d}"), paper_cells.get(f"table1/pgd/{d}")
    else:
        single, iterative = get("paper_attack"), get("apgd-ce")
    if None not in (single, iterative):
        checks.append(("iterative beats single-step", iterative <= single,
                       f"{'PGD' if network.startswith('cnn4') else 'APGD-CE'} {iterative:.1f}% vs "
                       f"{'FGSM' if network.startswith('cnn4') else 'the locally linear attack'} {single:.1f}%"))
    white, transfer = get("gradient_worst"), get("transfer")
    if None not in (white, transfer):
        checks.append(("white box beats transfer", white <= transfer,
                       f"{white:.1f}% vs transfer {transfer:.1f}%"))
    square = get("square")
    if None not in (white, square):
        checks.append(("gradient-free (Square) does not beat the gradient attacks by more than a point",
                       square >= white - MASKING_MARGIN,
                       f"Square {square:.1f}% vs gradient attacks {white:.1f}%"
                       + ("" if square >= white - MASKING_MARGIN else ": the gradient is masked")))
    noise = get("noise")
    attacks = [v for k, v in ((k, get(k)) for k in ("square", "gradient_worst", "transfer")) if v is not None]
    if noise is not None and attacks:
        checks.append(("random sign noise is far weaker than any attack", noise > max(attacks) + 10,
                       f"noise {noise:.1f}% vs the weakest attack {max(attacks):.1f}%"))
    return checks


def _networks(results):
    """(network, suite kind) for every network whose suite result exists, in plan order."""
    seen = []
    for key in results:
        if key.startswith("adaptive/") and key.endswith("/suite"):
            network = key[len("adaptive/"):-len("/suite")]
            seen.append((network, _kind(network)))
    return seen


def _kind(network):
    """The suite of an adaptive network: ``fc2-mnist/sparse`` -> ``fc2/sparse``."""
    arch, defense = network.split("/")
    return f"{'cnn4' if arch == 'cnn4' else 'fc2'}/{defense}"


def networks(results):
    """The networks of the adaptive section found in ``results``, in plan order."""
    return [n for n, _ in _networks(results)]

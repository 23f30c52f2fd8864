"""The adaptive evaluation's numbers, from the cached attack results: each
network's worst case over everything run against it, each attack's own accuracy, and
the sanity checks of Carlini et al. (2019, "On Evaluating Adversarial Robustness") that
tell a real robustness number from an artefact of a weak or masked attack.

A per-example verdict is what makes a worst case: every attack result carries
``correct`` (was the example still classified correctly on the attack's output?), and
an example is robust only if it is correct, clean and under every attack run on it.
The checks themselves are the library's (``attacks.checks``): here they judge the cached
numbers.
"""
from __future__ import annotations

import numpy as np

from ..attacks import checks
from .settings import ADAPTIVE_EPS, BUDGET_ROLES, SQUARE_SEEDS, SUITES

GRADIENT_FREE = ("square",)
BLACK_BOX = ("transfer", "noise")
SQUARE_RUNS = (1, 2, 4)   # the worst case with this many Square runs of other seeds, in place of the suite's


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
    """Per example: robust under the attack, i.e. classified correctly both clean and on
    its output (``attacks.robust``)."""
    return np.asarray(result["clean"], bool) & np.asarray(result["correct"], bool)


def verdict(result):
    """Per-example robustness under an attack, counting any iterate when recorded."""
    ok = correct(result)
    return ok & np.asarray(result["any_iterate"]["correct"], bool) if "any_iterate" in result else ok


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


def _and(ok, others):
    """``ok`` and, on its examples (the first ones), each verdict of ``others`` measured on
    at least as many test images."""
    for other in others:
        if len(other) >= len(ok):
            ok = ok & other[:len(ok)]
    return ok


def network_cells(results, base, kind, paper_keys=(), paper_eps=lambda eps: []):
    """The cells of one network evaluated like the adaptive section, from the results under
    ``base`` (``<base>/suite``, ``<base>/alone/<attack>``, ``<base>/budget/<role>``,
    ``<base>/eps/<eps>/reduced``, ``<base>/square-seed/<k>``): its worst case (the suite
    and the results ``paper_keys``, per example), each attack alone, the budgets, the
    reduced suite against eps (which takes in the results ``paper_eps(eps)`` at each eps)
    and the Square seeds study. ``kind`` names its suite in ``SUITES``. A paper result
    measured on more test images than the suite counts on the suite's images (the first
    ones)."""
    out = {}
    suite = results.get(f"{base}/suite")
    if suite is None:
        return out
    n = suite["n"]
    paper = [verdict(results[k]) for k in paper_keys if k in results and "correct" in results[k]]
    ok = _and(correct(suite), paper)
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
        g = np.logical_and.reduce([correct(r) for r in gradient])
        out[f"{base}/gradient_worst"] = (100 * float(g.mean()), int(len(g)))
    for role in BUDGET_ROLES:
        r = results.get(f"{base}/budget/{role}")
        if r is not None:
            out[f"{base}/budget/{role}"] = (100 * r["robust_accuracy"], r["n"])
    for eps in ADAPTIVE_EPS:
        at = [verdict(results[k]) for k in paper_eps(eps) if k in results]
        r = results.get(f"{base}/eps/{eps:g}/reduced")
        if at:   # on all the images the paper's attack ran on
            v = np.logical_and.reduce(at)
            out[f"{base}/eps/{eps:g}/paper"] = (100 * float(v.mean()), int(len(v)))
        if r is not None:   # the reduced suite takes the paper's attack at this eps in too
            v = _and(correct(r), at)
            out[f"{base}/eps/{eps:g}/reduced"] = (100 * float(v.mean()), int(len(v)))
    out.update(square_seed_cells(results, base, ok, suite))
    return out


def square_seed_cells(results, base, worst, suite):
    """How the worst case hangs on Square's random draws, on the first images the extra
    Square runs (``<base>/square-seed/<k>``, one run each, other seeds) saw:
    ``square-runs/<k>`` the worst case with k of those runs in place of the suite's Square
    (k in SQUARE_RUNS); ``square-runs/suite`` the worst case itself (the suite's Square, its
    restarts included); ``square-runs/suite+1`` and ``suite+<all>`` with one or all the
    extra runs added; ``square-runs/move``: the points one more run of another seed takes
    off the worst case."""
    seeds = [results.get(f"{base}/square-seed/{k}") for k in range(1, SQUARE_SEEDS + 1)]
    if any(r is None for r in seeds):
        return {}
    m = seeds[0]["n"]
    runs = [correct(r) for r in seeds]
    # Square runs last in every suite: the examples it broke survived everything before it.
    before = worst[:m] | (np.asarray(suite["broken_by"][:m]) == "square")
    out = {}
    for k in SQUARE_RUNS:
        v = np.logical_and.reduce([before] + runs[:k])
        out[f"{base}/square-runs/{k}"] = (100 * float(v.mean()), m)
    out[f"{base}/square-runs/suite"] = (100 * float(worst[:m].mean()), m)
    one, every = worst[:m] & runs[0], np.logical_and.reduce([worst[:m]] + runs)
    out[f"{base}/square-runs/suite+1"] = (100 * float(one.mean()), m)
    out[f"{base}/square-runs/suite+{SQUARE_SEEDS}"] = (100 * float(every.mean()), m)
    out[f"{base}/square-runs/move"] = (100 * float((worst[:m] & ~runs[0]).mean()), None)
    return out


def sanity(cells_, network, paper_cells, base=None):
    """The sanity checks (``attacks.checks``, the library's rules) for one network: a list of
    ``attacks.checks.Check``.

    ``cells_`` is ``cells(results)`` (values in %); ``paper_cells`` the reproduced cells of
    the paper's tables (for single-step vs iterative). ``base``: where the network's cells
    are (``adaptive/<network>`` by default); a cnn4 network is checked against Table 1, any
    other against its own ``<base>/paper_attack`` cell."""
    base = base or f"adaptive/{network}"
    get = lambda k: (cells_.get(f"{base}/{k}") or (None,))[0]     # noqa: E731
    out = []
    curve = [(e, get(f"eps/{e:g}/reduced")) for e in ADAPTIVE_EPS if get(f"eps/{e:g}/reduced") is not None]
    if curve:
        out.append(checks.falls_to_zero(curve))
    b1, b4, b5 = get("budget/base"), get("budget/iterations"), get("budget/restarts")
    if None not in (b1, b4, b5):
        out.append(checks.budget_changes_little(b1, b4, b5))
    if network.startswith("cnn4/"):
        d = network.split("/")[1]
        single, iterative, names = paper_cells.get(f"table1/fgsm/{d}"), paper_cells.get(f"table1/pgd/{d}"), ("PGD",
                                                                                                            "FGSM")
    else:
        single, iterative, names = get("paper_attack"), get("apgd-ce"), ("APGD-CE", "the locally linear attack")
    if None not in (single, iterative):
        out.append(checks.iterative_beats_single_step(iterative, single, names))
    white, transfer = get("gradient_worst"), get("transfer")
    if None not in (white, transfer):
        out.append(checks.white_box_beats_transfer(white, transfer))
    square = get("square")
    if None not in (white, square):
        out.append(checks.gradient_free_does_not_win(square, white))
    noise = get("noise")
    attacks = [v for v in (get(k) for k in ("square", "gradient_worst", "transfer")) if v is not None]
    if noise is not None and attacks:
        out.append(checks.noise_is_far_weaker(noise, attacks))
    return out


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

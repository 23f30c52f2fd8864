"""The paper's Section 5 and Appendix B as data: which models, which attacks, and the
paper's numbers to compare with. ``run_all.py`` plans every section, runs the jobs
through ``experiments.Context`` (cached), and hands the results to ``report`` and ``plots``.

Every cell is keyed like ``table1/pgd/frontend``; ``PAPER`` holds the paper's value
for each key that the paper states as a number (accuracies in %).
"""
from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass

import numpy as np

from . import attacks, cache, files, theory
from .experiments import AttackSpec, TrainSpec, _as_json, spec_hash
from .linear_model import switch_flips
from .models import Classifier

SECTIONS = ("b2", "table1", "table2", "sweep", "fig5", "fig6", "fig7", "theory", "adaptive")
EXTENDED_SECTIONS = ("levels", "rho", "basis")   # beyond the paper's tables: ``run_all.py --extended``

PAPER = {
    "table1/ll/none": 8.82, "table1/ll/frontend": 79.48,
    "table1/fgsm/none": 19.42, "table1/fgsm/frontend": 84.39,
    "table1/ifgsm/none": 0.58, "table1/ifgsm/frontend": 50.48,
    "table1/mifgsm/none": 0.61, "table1/mifgsm/frontend": 47.00,
    "table1/pgd/none": 0.54, "table1/pgd/frontend": 49.95,
    "table2/mnist/none": 8.31, "table2/mnist/sparse": 80.46, "table2/mnist/frontend": 80.68,
    "table2/fashion/none": 2.83, "table2/fashion/sparse": 66.94, "table2/fashion/frontend": 62.05,
    "b2/cnn4/none": 99.37, "b2/cnn4/frontend": 98.4,
    "b2/fc2-mnist/none": 99.39, "b2/fc2-mnist/frontend": 99.27,
    "b2/fc2-fashion/none": 97.2,
    # The paper's l2 means are per pixel in scale (l2 / sqrt(N), N = 784): raw l2 would be 28x larger.
    "fig7/none/mean_linf": 0.503, "fig7/none/mean_l2_per_sqrt_n": 0.076,
    "fig7/frontend/mean_linf": 0.826, "fig7/frontend/mean_l2_per_sqrt_n": 0.196,
    "fig7/frontend/accuracy": 4.05, "fig7/frontend/outside_budget": 98.0,
}
# The adaptive section quotes, beside its worst case, the paper's cell for the same network.
PAPER_CELL = {"cnn4/none": "table1/pgd/none", "cnn4/frontend": "table1/pgd/frontend",
              "fc2-mnist/none": "table2/mnist/none", "fc2-mnist/sparse": "table2/mnist/sparse",
              "fc2-mnist/frontend": "table2/mnist/frontend", "fc2-fashion/none": "table2/fashion/none",
              "fc2-fashion/sparse": "table2/fashion/sparse", "fc2-fashion/frontend": "table2/fashion/frontend"}

EPS = 0.25                       # Section 5.2: the single-step budget, images in [0, 1]
EPS_GRID = (0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4)   # Figures 5 and 6
DATASET_KEY = {"mnist": "mnist", "fashion-mnist": "fashion"}
# The sparse network (Section 4, Table 2): l1 on fc2's first layer, then pruning to rho = 3%
# by either rule; the table's setting is chosen from the sweep by SPARSE_RULE_TEXT.
L1_SWEEP = (3e-3, 1e-2, 3e-2, 1e-1, 3e-1)
PRUNE_RULES = ("global", "neuron")
SPARSE_RULE_TEXT = ("the l1 strength and pruning rule whose pruned networks are the most accurate on the validation "
                    "split under the locally linear attack at ε = 0.25 (Table 2's own measure, taken on held-out "
                    "training images), averaged over the training seeds; ties go to the higher clean validation "
                    "accuracy. The test set plays no part.")
LEVELS = (1, 2)                  # wavelet levels compared in the "levels" section
RHO_SWEEP = (0.01, 0.02, 0.03, 0.05, 0.1)
BASIS_SWEEP = ("cdf97", "haar", "db4", "dct")
# C&W (Figure 7) runs on the first CW_N_TEST test images: 6 binary-search steps x 1,000
# iterations cost ~2.5 min per step on 500 images here, and the whole run must fit in an hour.
CW_N_TEST = 200
# The adaptive evaluation (issue 10). Its suites, in the order they run: the cheap strong
# attacks first, so the expensive ones (Square, APGD-T) see only what those left.
SUITES = {
    "cnn4/none": ("apgd-ce/exact", "apgd-dlr/exact", "apgd-t/exact", "square"),
    "cnn4/frontend": ("apgd-ce/exact", "apgd-ce/straight-through", "apgd-dlr/exact", "square", "apgd-t/exact",
                      "apgd-ce/bpda", "transfer"),
    "fc2/none": ("apgd-ce/exact", "apgd-margin/exact", "square"),
    "fc2/sparse": ("apgd-ce/exact", "apgd-margin/exact", "square", "transfer"),
    "fc2/frontend": ("apgd-ce/exact", "apgd-ce/straight-through", "apgd-margin/exact", "square", "apgd-ce/bpda",
                     "transfer"),
}
# The worst case of the rho and basis studies: the first four attacks of the front end's suite
# (APGD-T, BPDA and transfer are left out for time; Square gets the eps sweep's queries).
STUDY_SUITE = SUITES["cnn4/frontend"][:4]
ADAPTIVE_EPS = (0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5)   # the accuracy-vs-eps sanity check
BUDGETS = ((100, 1), (400, 1), (100, 5))                      # APGD-CE iterations x restarts
BUDGET_ROLES = ("base", "iterations", "restarts")             # their keys: adaptive/<network>/budget/<role>
SANITY_N = 500                 # cnn4: the first images for the stand-alone attacks and budgets
EPS_SWEEP_N = 200              # cnn4: the first images for the eps sweep
FC2_EPS_SWEEP_N = 500          # fc2: the same (Square through the front end costs minutes per eps on all 2,000)
EPS_SWEEP_QUERIES = 1000       # Square's queries in the eps sweep


@dataclass(frozen=True)
class Settings:
    """Knobs that differ between the full reproduction and ``--quick``."""
    quick: bool = False
    seed: int = 0
    level: int = 1               # wavelet level of the front end (see REPORT.md for the choice)
    rho: float = 0.03

    def cnn4(self, defense="none", level=None, seed=None, basis="cdf97", rho=None, epochs=None):
        extra = dict(n_train=3000, epochs=1, val_size=500) if self.quick else dict(epochs=epochs or 8)
        return TrainSpec("cnn4", "mnist", defense=defense, level=level or self.level, rho=rho or self.rho,
                         basis=basis, optimizer="sgd", lr=0.05, lr_decay=0.8,
                         seed=self.seed if seed is None else seed, **extra)

    def fc2(self, dataset, defense="none", l1=None, rule="global", level=None, seed=None):
        extra = dict(n_train=2000, epochs=2, val_size=400) if self.quick else dict(epochs=30, val_size=1000)
        if defense == "sparse":
            # Adam drives the l1-penalised weights to zero far better than SGD here; l2 = 1e-3 is
            # the penalty of the authors' released binary network. No fine-tuning after pruning.
            extra.update(l1=0.1 if l1 is None else l1, l2=1e-3, optimizer="adam", lr=1e-3, prune_rule=rule)
        else:
            extra.update(l2=1e-4, optimizer="sgd", lr=0.05)
        return TrainSpec("fc2", dataset, binary=True, defense=defense, level=level or self.level, rho=self.rho,
                         batch_size=32, lr_decay=0.95, seed=self.seed if seed is None else seed, **extra)

    @property
    def fc2_seeds(self):
        """Training seeds of the binary experiments (each fc2 trains in seconds)."""
        return tuple(self.seed + k for k in range(2 if self.quick else 5))

    def cnn4_seeds(self, extended=False):
        return tuple(self.seed + k for k in range((2 if self.quick else 3) if extended else 1))

    @property
    def n_test(self):
        return 200 if self.quick else None

    @property
    def iterations(self):
        return 4 if self.quick else 80

    @property
    def cw(self):
        if self.quick:
            return {"n_test": 10, "params": (("binary_steps", 3), ("max_iterations", 50))}
        return {"n_test": CW_N_TEST, "params": (("binary_steps", 6), ("max_iterations", 1000))}

    @property
    def adaptive(self):
        """Sizes of the adaptive section: APGD iterations, Square's queries, APGD-T's targets,
        and the first images of cnn4's sanity checks."""
        if self.quick:
            return {"iterations": 5, "queries": 30, "n_targets": 2, "sanity_n": 40, "eps_n": 20, "fc2_eps_n": 40, "eps_queries": 20,
                    "budgets": ((5, 1), (10, 1), (5, 2))}
        return {"iterations": 100, "queries": 5000, "n_targets": 9, "sanity_n": SANITY_N, "eps_n": EPS_SWEEP_N, "fc2_eps_n": FC2_EPS_SWEEP_N,
                "eps_queries": EPS_SWEEP_QUERIES, "budgets": BUDGETS}


def seeded(key, seed, s):
    """The cell key of a result for training seed ``seed``: the plain key for the run's own
    seed (what summary.json has always held), ``key@<seed>`` for the others."""
    return key if seed == s.seed else f"{key}@{seed}"


def choose_sparse(records):
    """The sparse network's setting for Table 2, by SPARSE_RULE_TEXT, from validation
    numbers only. ``records``: {(l1, rule): (validation accuracy under the attack, clean
    validation accuracy)}, means over the seeds. Returns (l1, rule).

    Choosing by robust rather than clean accuracy is what keeps the choice off both ends of
    the sweep: a weak l1 is accurate but not robust, and a too strong one can collapse a
    seed to chance, which makes it neither."""
    if not records:
        raise ValueError("no sparse-network settings to choose from")
    return max(records, key=lambda k: (records[k][0], records[k][1], -k[0]))


def sparse_setting(ctx, s: Settings):
    """{dataset: (l1, prune rule)} for Table 2's sparse network, chosen by ``choose_sparse``
    from the sweep's networks (trained here, or read from the cache)."""
    choice = {}
    for ds in DATASET_KEY:
        records = {}
        for rule in PRUNE_RULES:
            for l1 in L1_SWEEP:
                infos = [ctx.model_info(s.fc2(ds, "sparse", l1=l1, rule=rule, seed=seed)) for seed in s.fc2_seeds]
                records[(l1, rule)] = (float(np.mean([i["val_robust_accuracy"] for i in infos])),
                                       float(np.mean([i["val_accuracy"] for i in infos])))
        choice[ds] = choose_sparse(records)
        ctx.log(f"sparse network for {ds}: l1 = {choice[ds][0]:g}, {choice[ds][1]} pruning (chosen by "
                f"validation accuracy: {SPARSE_RULE_TEXT})")
    return choice


def plan(section, s: Settings, sparse=None, extended=False):
    """The jobs of one section: a list of (cell key, TrainSpec or AttackSpec).

    ``sparse``: {dataset: (l1, rule)}, the sparse network's setting (``choose_sparse``);
    the sweep's strongest l1 with global pruning when not given. ``extended``: cnn4 over
    three training seeds (Table 1, B.2)."""
    sparse = sparse or {ds: (L1_SWEEP[-2], "global") for ds in DATASET_KEY}

    def fc2(ds, defense, seed, **kw):
        if defense == "sparse":
            kw.setdefault("l1", sparse[ds][0])
            kw.setdefault("rule", sparse[ds][1])
        return s.fc2(ds, defense, seed=seed, **kw)

    if section == "b2":
        jobs = []
        for seed in s.cnn4_seeds(extended):
            jobs += [(seeded("b2/cnn4/none", seed, s), s.cnn4(seed=seed)),
                     (seeded("b2/cnn4/frontend", seed, s), s.cnn4("frontend", seed=seed))]
        for seed in s.fc2_seeds:
            for ds in DATASET_KEY:
                for defense in ("none", "sparse", "frontend"):
                    jobs.append((seeded(f"b2/fc2-{DATASET_KEY[ds]}/{defense}", seed, s), fc2(ds, defense, seed)))
        return jobs
    if section == "table1":
        jobs = []
        for seed in s.cnn4_seeds(extended):
            for defense in ("none", "frontend"):
                model = s.cnn4(defense, seed=seed)
                modes = ("semi-white", "white") if defense == "frontend" else ("semi-white",)
                for mode in modes:
                    jobs.append((seeded(f"table1/ll-{mode}/{defense}", seed, s),
                                 AttackSpec(model, "ll", EPS, mode=mode, n_test=s.n_test)))
                jobs.append((seeded(f"table1/fgsm/{defense}", seed, s), AttackSpec(model, "fgsm", EPS, n_test=s.n_test)))
                for name in ("ifgsm", "mifgsm", "pgd"):
                    # The table reports the final iterate, as the attacks are defined; the same
                    # run gives the "any iterate" variant (an example counts as broken once any
                    # iterate fools the network), reported beside it. Without defense every
                    # example falls within a few steps, so only the cheaper "any iterate"
                    # (stop_on_success) is run: the two differ by a handful of examples there.
                    jobs.append((seeded(f"table1/{name}/{defense}", seed, s), AttackSpec(
                        model, name, EPS, delta=EPS / 20, iterations=s.iterations, n_test=s.n_test, seed=seed,
                        stop_on_success=defense == "none")))
        return jobs
    if section == "table2":
        jobs = []
        for seed in s.fc2_seeds:
            for ds in DATASET_KEY:
                key = DATASET_KEY[ds]
                jobs.append((seeded(f"table2/{key}/none", seed, s),
                             AttackSpec(fc2(ds, "none", seed), "ll", EPS, n_test=s.n_test)))
                jobs.append((seeded(f"table2/{key}/sparse", seed, s),
                             AttackSpec(fc2(ds, "sparse", seed), "ll", EPS, n_test=s.n_test)))
                for mode in ("semi-white", "white"):
                    jobs.append((seeded(f"table2/{key}/frontend-{mode}", seed, s),
                                 AttackSpec(fc2(ds, "frontend", seed), "ll", EPS, mode=mode, n_test=s.n_test)))
        return jobs
    if section == "sweep":
        # The sparse network for every l1 strength and pruning rule, on every seed: the
        # price in clean accuracy, the gain under attack, and the validation numbers the
        # table's setting is chosen by.
        jobs = []
        for seed in s.fc2_seeds:
            for ds in DATASET_KEY:
                for rule in PRUNE_RULES:
                    for l1 in L1_SWEEP:
                        spec = s.fc2(ds, "sparse", l1=l1, rule=rule, seed=seed)
                        key = f"sweep/{DATASET_KEY[ds]}/{rule}/{l1:g}"
                        jobs.append((seeded(f"{key}/clean", seed, s), spec))
                        jobs.append((seeded(f"{key}/ll", seed, s), AttackSpec(spec, "ll", EPS, n_test=s.n_test)))
        return jobs
    if section == "levels":
        # Evidence for the wavelet level of the front end (Section 3.1's take-away: coarser
        # levels have less localized basis functions): clean accuracy and the strongest
        # attacks, on the first 1,000 test images.
        jobs = []
        n = 100 if s.quick else 1000
        for level in LEVELS:
            cnn = s.cnn4("frontend", level=level)
            jobs.append((f"levels/cnn4/{level}/clean", cnn))
            jobs.append((f"levels/cnn4/{level}/pgd", AttackSpec(cnn, "pgd", EPS, delta=EPS / 20,
                                                                iterations=s.iterations, n_test=n, seed=s.seed)))
            fc = s.fc2("mnist", "frontend", level=level)
            jobs.append((f"levels/fc2/{level}/clean", fc))
            jobs.append((f"levels/fc2/{level}/ll-white", AttackSpec(fc, "ll", EPS, mode="white")))
        return jobs
    if section in ("fig5", "fig6"):
        ds = "mnist" if section == "fig5" else "fashion-mnist"
        curves = [("no defense: linear attack", "none", "semi-white", 1),
                  ("sparse net: linear attack", "sparse", "semi-white", 1),
                  ("sparse net: iterative linear", "sparse", "semi-white", 10),
                  ("front end: semi-white box", "frontend", "semi-white", 1),
                  ("front end: white box", "frontend", "white", 1),
                  ("front end: iterative semi-white", "frontend", "semi-white", 10),
                  ("front end: iterative white", "frontend", "white", 10)]
        jobs = []
        for seed in s.fc2_seeds:
            for curve, defense, mode, its in curves:
                for eps in EPS_GRID:
                    iterative = its > 1 and eps > 0   # at ε = 0 every attack is the identity
                    spec = AttackSpec(fc2(ds, defense, seed), "ll", eps, mode=mode, iterations=its if iterative else 1,
                                      delta=eps / 10 if iterative else None, stop_on_success=False, n_test=s.n_test)
                    jobs.append((seeded(f"{section}/{curve}/{eps:g}", seed, s), spec))
        return jobs
    if section == "fig7":
        jobs = []
        for defense in ("none", "frontend"):
            # Appendix B.3: BPDA identity through the front end, as the paper does.
            jobs.append((f"fig7/{defense}", AttackSpec(s.cnn4(defense), "cw", gradient="bpda", **s.cw)))
        return jobs
    if section == "theory":
        return [("theory/cnn4/none", s.cnn4()), ("theory/cnn4/frontend", s.cnn4("frontend")),
                ("theory/fc2-mnist/none", s.fc2("mnist")), ("theory/fc2-mnist/sparse", fc2("mnist", "sparse", s.seed))]
    if section == "adaptive":
        return _adaptive_jobs(s, fc2)
    if section in ("rho", "basis"):
        return _frontend_sweep_jobs(section, s)
    raise ValueError(f"unknown section {section!r}; choose from {SECTIONS + EXTENDED_SECTIONS}")


def adaptive_networks(s, fc2):
    """The networks of the adaptive section: {name: (TrainSpec, suite kind)}."""
    nets = {"cnn4/none": (s.cnn4(), "cnn4/none"), "cnn4/frontend": (s.cnn4("frontend"), "cnn4/frontend")}
    for ds, key in DATASET_KEY.items():
        for defense in ("none", "sparse", "frontend"):
            nets[f"fc2-{key}/{defense}"] = (fc2(ds, defense, s.seed), f"fc2/{defense}")
    return nets


def _adaptive_jobs(s, fc2):
    """Per network: the worst case over its suite on the whole test set; each attack alone,
    APGD-CE with more iterations and restarts, and the worst case against eps (cnn4: on the
    first images only; fc2: on all), for the sanity checks of Carlini et al. (2019)."""
    a, jobs = s.adaptive, []
    for name, (model, kind) in adaptive_networks(s, fc2).items():
        cnn = model.arch == "cnn4"
        suite = SUITES[kind]
        common = dict(iterations=a["iterations"], seed=s.seed)
        budget = (("n_targets", a["n_targets"]), ("queries", a["queries"]))
        jobs.append((f"adaptive/{name}/suite", AttackSpec(model, "worst_case", EPS, n_test=s.n_test,
                                                          params=(("suite", suite),) + budget, **common)))
        n = a["sanity_n"] if cnn else s.n_test
        for attack in suite + ("noise",):
            kind_, _, gradient = attack.partition("/")
            spec = dict(model=model, eps=EPS, n_test=n, gradient=gradient or "exact", **common)
            if kind_.startswith("apgd-") and kind_ != "apgd-t":
                jobs.append((f"adaptive/{name}/alone/{attack}", AttackSpec(attack="apgd", params=(("loss", kind_[5:]),), **spec)))
            elif kind_ == "apgd-t":
                jobs.append((f"adaptive/{name}/alone/{attack}", AttackSpec(attack="apgd-t", params=budget[:1], **spec)))
            elif kind_ == "square":
                jobs.append((f"adaptive/{name}/alone/{attack}", AttackSpec(attack="square", params=budget[1:], **spec)))
            else:   # transfer, noise
                jobs.append((f"adaptive/{name}/alone/{attack}", AttackSpec(attack=kind_, **spec)))
        for role, (its, restarts) in zip(BUDGET_ROLES, a["budgets"]):
            jobs.append((f"adaptive/{name}/budget/{role}", AttackSpec(
                model, "apgd", EPS, n_test=n, iterations=its, seed=s.seed, params=(("loss", "ce"), ("restarts", restarts)))))
        n_eps = a["eps_n"] if cnn else a["fc2_eps_n"]
        eps_suite = tuple(x for x in suite if x.startswith("apgd-ce")) + ("square",)
        for eps in ADAPTIVE_EPS:
            jobs.append((f"adaptive/{name}/eps/{eps:g}/worst", AttackSpec(
                model, "worst_case", eps, n_test=n_eps, params=(("suite", eps_suite), ("queries", a["eps_queries"])),
                **common)))
            if cnn:   # the paper's attack at this eps (the fc2 curves are Figures 5 and 6)
                jobs.append((f"adaptive/{name}/eps/{eps:g}/paper", AttackSpec(
                    model, "pgd", eps, delta=eps / 20, iterations=s.iterations, n_test=n_eps, seed=s.seed,
                    stop_on_success=False)))
    return jobs


def _frontend_sweep_jobs(section, s):
    """What the paper mentions but does not show (issue 12), on cnn4 with the front end:
    clean accuracy, the paper's PGD and the worst case, for several rho or bases, on the
    first 2,000 test images and 4 training epochs (the sweep belongs to --extended)."""
    n = 100 if s.quick else 2000
    epochs = None if s.quick else 4
    values = RHO_SWEEP if section == "rho" else BASIS_SWEEP
    a, jobs = s.adaptive, []
    for v in values:
        model = s.cnn4("frontend", epochs=epochs, **({"rho": v} if section == "rho" else {"basis": v}))
        key = f"{section}/{v:g}" if section == "rho" else f"{section}/{v}"
        jobs.append((f"{key}/clean", model))
        jobs.append((f"{key}/pgd", AttackSpec(model, "pgd", EPS, delta=EPS / 20, iterations=s.iterations, n_test=n,
                                              seed=s.seed, stop_on_success=False)))
        jobs.append((f"{key}/worst_case", AttackSpec(model, "worst_case", EPS, n_test=n, iterations=a["iterations"],
                                                     seed=s.seed, params=(("suite", STUDY_SUITE),
                                                                          ("queries", a["eps_queries"])))))
    return jobs


# -- the theory section: the paper's theorems measured on the trained networks ---------
THEORY_EPS = (0.01, 0.02, 0.05, 0.1)                        # Theorem 2 and the certificate
FLIP_EPS = (0.02, 0.05, 0.1, 0.15, 0.2, 0.25)               # switch flips on cnn4
THEOREM1_N = (64, 256, 1024, 4096, 16384)


def theory_results(ctx, s: Settings):
    """Theorems 1 and 2, the certified radius and switch flips, on this run's networks;
    cached in ``<cache>/theory`` like the attacks (a dict of JSON-ready values)."""
    models = dict(plan("theory", s))
    # The key covers the settings, the networks and the grids below, so changing any recomputes.
    grids = json.dumps([THEORY_EPS, FLIP_EPS, THEOREM1_N]).encode()
    key = "-".join([spec_hash(s), hashlib.sha256(grids).hexdigest()[:8]] + [m.key()[:6] for m in models.values()])
    path = ctx.cache_dir / "theory" / f"theory-{key}.json"
    specs = {k: _as_json(m) for k, m in models.items()}
    keys = {"theorem1", "theorem2", "certified", "flips", "spec", "wall_seconds"}

    def load(log):   # a corrupt file is moved aside (one log line) and recomputed
        out = cache.read_json(path, log)
        if out is None or out.get("spec") == specs and keys <= set(out):
            return out
        if log is not None:
            cache.move_aside(path, f"it lacks {sorted(keys - set(out))} or holds other settings", log)
        return None

    def compute():
        """The computation itself (minutes); writes ``path``, returns what it holds."""
        n, t0 = (100 if s.quick else 1000), time.perf_counter()
        ctx.log("theory: Theorem 1 (Monte Carlo), Theorem 2 and certified radius on fc2, switch flips on cnn4")
        out = {"theorem1": {"N": list(THEOREM1_N),
                            "share": [theory.high_snr_fraction(N, M=1000, delta=0.01, C=0.003, trials=4, rng=N)
                                      for N in THEOREM1_N]}}
        out["theorem2"], out["certified"] = {}, {}
        for defense in ("none", "sparse"):
            spec = models[f"theory/fc2-mnist/{defense}"]
            net = ctx.model(spec)
            x, y = ctx.test_set(spec)
            out["theorem2"][defense] = _theorem2(net, x, y, s.seed)
            r = theory.certified_radius(net, x, y)
            out["certified"][defense] = {"median": float(np.median(r)), "mean": float(r.mean()),
                                         "certified_at": {f"{e:g}": float(np.mean(r > e)) for e in THEORY_EPS},
                                         "gammas": theory.gammas(net).tolist()}
        out["flips"] = {}
        for defense in ("none", "frontend"):
            spec = models[f"theory/cnn4/{defense}"]
            clf = ctx.classifier(spec)
            x, y = ctx.test_set(spec, n)
            out["flips"][defense] = _flips(clf, x, y)
        out["spec"] = {k: _as_json(m) for k, m in models.items()}
        out["wall_seconds"] = time.perf_counter() - t0
        files.write_json(path, out)
        return json.loads(path.read_text())

    return cache.get_or_compute(path, load, compute, ctx.log)


def _theorem2(net, x, y, seed):
    """Per eps: Theorem 2's bound per layer and the measured max_x ||e_j||_inf for a random
    sign perturbation and for I-FGSM (delta = eps/10, 10 steps), both clipped to [0, 1]."""
    rng = np.random.default_rng(seed)
    clf, rows = Classifier(net), []
    for eps in THEORY_EPS:
        random = np.clip(x + eps * rng.choice(np.array([-1, 1], x.dtype), x.shape), 0, 1)
        adversarial = attacks.iterative_fgsm(clf, x, y, eps, eps / 10, 10)
        rows.append({"eps": eps, "bound": theory.layer_bounds(net, eps).tolist(),
                     **{name: theory.measured_layer_perturbations(net, x, xp).max(axis=0).tolist()
                        for name, xp in (("random", random), ("ifgsm", adversarial))}})
    return rows


def _flips(clf, x, y):
    """Per eps and attack: the share of each layer's switches (ReLU and max-pool) that flip
    between x and x + e, as seen by the network (after the front end, if any)."""
    rows = []
    seen = clf.frontend(x) if clf.frontend is not None else x
    for eps in FLIP_EPS:
        for name, x_adv in (("fgsm", attacks.fgsm(clf, x, y, eps)),
                            ("ifgsm", attacks.iterative_fgsm(clf, x, y, eps, eps / 10, 10))):
            seen_adv = clf.frontend(x_adv) if clf.frontend is not None else x_adv
            flips = switch_flips(clf.net, seen, seen_adv)
            rows.append({"eps": eps, "attack": name,
                         "layers": {f.layer: float(f.flipped.mean() / f.size) for f in flips},
                         "all": float(sum(f.flipped.sum() for f in flips) / (len(x) * sum(f.size for f in flips)))})
    return rows

"""What each section of the reproduction trains and attacks: ``plan(section, settings)``
gives its jobs as (cell key, TrainSpec or AttackSpec), and ``sparse_setting`` chooses
Table 2's sparse network from the l1 sweep by validation numbers only.
"""
from __future__ import annotations

import numpy as np

from ..models import PRUNE_RULES
from ..frontend import LEARNED
from .settings import (ADAPTIVE_EPS, BASIS_SWEEP, BUDGET_ROLES, CHANCE_MARGIN, COMBINED_L1_SWEEP, DATASET_KEY, EPS, EPS_GRID,
                       EXTENDED_SECTIONS, L1_SWEEP, LEARNED_SANITY_EPS, LEVELS, MULTICLASS_L1_SWEEP,
                       MULTICLASS_WORST_N, RHO_SWEEP, SECTIONS, SPARSE_RULE_TEXT, SQUARE_SEEDS, STUDY_SUITE, SUITES,
                       Settings, seeded)
from .specs import attack_spec


def choose_sparse(records, classes=2):
    """The sparse network's setting for Table 2, by SPARSE_RULE_TEXT, from validation
    numbers only. ``records``: {(l1, rule): (validation accuracy under the attack, clean
    validation accuracy)}, means over the seeds; ``classes``: L. Returns (l1, rule).

    Choosing by robust rather than clean accuracy is what keeps the choice off both ends of
    the sweep: a weak l1 is accurate but not robust, and a too strong one can collapse a
    seed to chance, which makes it neither. With ten classes a collapsed network (one
    answer for every image) keeps about 1/L under any attack, more than a real but
    brittle one: settings at chance are left out first (all of them only if none is left)."""
    if not records:
        raise ValueError("no sparse-network settings to choose from")
    real = {k: v for k, v in records.items() if v[1] > 1 / classes + CHANCE_MARGIN} or records
    return max(real, key=lambda k: (real[k][0], real[k][1], -k[0]))


def sweep_networks(s: Settings, study="table2", dataset="mnist"):
    """The sweep a sparse network's setting is chosen from: {(l1, rule): [TrainSpec per
    training seed]}. ``study``: "table2" (fc2, Section 4), "combined" (fc2 behind the front
    end) or "multiclass" (fc10)."""
    if study == "table2":
        l1s, seeds, build = L1_SWEEP, s.fc2_seeds, lambda l1, rule, seed: s.fc2(dataset, "sparse", l1=l1, rule=rule,
                                                                                   seed=seed)
    elif study == "combined":
        l1s, seeds, build = COMBINED_L1_SWEEP, s.fc2_seeds, lambda l1, rule, seed: s.fc2(
            dataset, "combined", l1=l1, rule=rule, seed=seed)
    elif study == "multiclass":
        l1s, seeds, build = MULTICLASS_L1_SWEEP, s.multiclass_seeds, lambda l1, rule, seed: s.fc10(
            dataset, "sparse", l1=l1, rule=rule, seed=seed)
    else:
        raise ValueError(f"unknown sweep {study!r}; choose from 'table2', 'combined', 'multiclass'")
    return {(l1, rule): [build(l1, rule, seed) for seed in seeds] for rule in PRUNE_RULES for l1 in l1s}


def sparse_setting(runner, s: Settings, study="table2"):
    """{dataset: (l1, prune rule)} for the sparse network of ``study`` (Table 2's, or one of
    the open questions': ``sweep_networks``), chosen by ``choose_sparse`` from its sweep's
    networks (trained here, or read from the cache)."""
    choice = {}
    for ds in DATASET_KEY:
        records = {}
        for setting, specs in sweep_networks(s, study, ds).items():
            infos = [runner.model_info(spec) for spec in specs]
            records[setting] = (float(np.mean([i["val_adversarial_accuracy"] for i in infos])),
                                float(np.mean([i["val_accuracy"] for i in infos])))
        choice[ds] = choose_sparse(records, classes=10 if study == "multiclass" else 2)
        what = "sparse network" if study == "table2" else f"{study} study's sparse network"
        runner.log(f"{what} for {ds}: l1 = {choice[ds][0]:g}, {choice[ds][1]} pruning (chosen by "
                   f"validation accuracy: {SPARSE_RULE_TEXT})")
    return choice


def plan(section, s: Settings, sparse=None, extended=False, choice=None):
    """The jobs of one section: a list of (cell key, TrainSpec or AttackSpec).

    ``sparse``: {dataset: (l1, rule)}, the sparse network's setting (``choose_sparse``);
    the sweep's l1 = 0.1 with global pruning when not given. ``extended``: cnn4 over
    three training seeds (Table 1, B.2). ``choice``: the same for the sparse network of
    the "combined" or "multiclass" section (``sparse_setting(runner, s, section)``)."""
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
                                 attack_spec(model, "ll", EPS, s.n_test, mode=mode)))
                jobs.append((seeded(f"table1/fgsm/{defense}", seed, s), attack_spec(model, "fgsm", EPS, s.n_test)))
                for name in ("ifgsm", "mifgsm", "pgd"):
                    # The table reports the final iterate, as the attacks are defined; the same
                    # run gives the "any iterate" variant (an example counts as broken once any
                    # iterate fools the network), reported beside it. Without defense every
                    # example falls within a few steps, so only the cheaper "any iterate"
                    # (stop_on_success) is run: the two differ by a handful of examples there.
                    seeding = {"rng": seed} if name == "pgd" else {}
                    jobs.append((seeded(f"table1/{name}/{defense}", seed, s), attack_spec(
                        model, name, EPS, s.n_test, delta=EPS / 20, iterations=s.iterations,
                        stop_on_success=defense == "none", **seeding)))
        return jobs
    if section == "table2":
        jobs = []
        for seed in s.fc2_seeds:
            for ds in DATASET_KEY:
                key = DATASET_KEY[ds]
                jobs.append((seeded(f"table2/{key}/none", seed, s),
                             attack_spec(fc2(ds, "none", seed), "ll", EPS, s.n_test, mode="semi-white")))
                jobs.append((seeded(f"table2/{key}/sparse", seed, s),
                             attack_spec(fc2(ds, "sparse", seed), "ll", EPS, s.n_test, mode="semi-white")))
                for mode in ("semi-white", "white"):
                    jobs.append((seeded(f"table2/{key}/frontend-{mode}", seed, s),
                                 attack_spec(fc2(ds, "frontend", seed), "ll", EPS, s.n_test, mode=mode)))
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
                        jobs.append((seeded(f"{key}/ll", seed, s), attack_spec(spec, "ll", EPS, s.n_test, mode="semi-white")))
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
            jobs.append((f"levels/cnn4/{level}/pgd", attack_spec(cnn, "pgd", EPS, n, delta=EPS / 20,
                                                                 iterations=s.iterations, rng=s.seed,
                                                                 stop_on_success=True)))
            fc = s.fc2("mnist", "frontend", level=level)
            jobs.append((f"levels/fc2/{level}/clean", fc))
            jobs.append((f"levels/fc2/{level}/ll-white", attack_spec(fc, "ll", EPS, mode="white")))
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
                    steps = dict(iterations=its, delta=eps / 10) if iterative else {}
                    spec = attack_spec(fc2(ds, defense, seed), "ll", eps, s.n_test, mode=mode, **steps)
                    jobs.append((seeded(f"{section}/{curve}/{eps:g}", seed, s), spec))
        return jobs
    if section == "fig7":
        jobs = []
        for defense in ("none", "frontend"):
            # Appendix B.3: BPDA identity through the front end, as the paper does.
            jobs.append((f"fig7/{defense}", attack_spec(s.cnn4(defense), "cw", 0.0, s.cw["n_test"], "bpda",
                                                        **s.cw["settings"])))
        return jobs
    if section == "theory":
        return [("theory/cnn4/none", s.cnn4()), ("theory/cnn4/frontend", s.cnn4("frontend")),
                ("theory/fc2-mnist/none", s.fc2("mnist")), ("theory/fc2-mnist/sparse", fc2("mnist", "sparse", s.seed))]
    if section == "adaptive":
        return _adaptive_jobs(s, fc2)
    if section in ("rho", "basis"):
        return _frontend_sweep_jobs(section, s)
    if section == "combined":
        return _combined_jobs(s, fc2, choice or {ds: (COMBINED_L1_SWEEP[1], "global") for ds in DATASET_KEY})
    if section == "multiclass":
        return _multiclass_jobs(s, choice or {ds: (MULTICLASS_L1_SWEEP[1], "global") for ds in DATASET_KEY})
    if section == "learned-basis":
        return _learned_basis_jobs(s)
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
    APGD-CE with more iterations and restarts, and the reduced suite against eps (cnn4: on
    the first images only; fc2: on all), for the sanity checks of Carlini et al. (2019);
    for the networks behind the front end, more Square runs with other seeds."""
    a, jobs = s.adaptive, []
    for name, (model, kind) in adaptive_networks(s, fc2).items():
        cnn = model.arch == "cnn4"
        pgd = (lambda eps, model=model: {"paper": attack_spec(model, "pgd", eps, a["eps_n"], delta=eps / 20,
                                                               iterations=s.iterations, rng=s.seed)})
        jobs += network_jobs(f"adaptive/{name}", model, SUITES[kind], s, n_suite=s.n_test,
                             n_alone=a["sanity_n"] if cnn else s.n_test, n_eps=a["eps_n"] if cnn else a["fc2_eps_n"],
                             paper_eps=pgd if cnn else None,   # the fc2 curves are Figures 5 and 6
                             n_seeds=(a["seeds_n"] if cnn else s.n_test) if model.has_frontend else False)
    return jobs


def suite_settings(suite, s, queries=None, restarts=None):
    """The settings of a worst case over ``suite`` that its attacks take: APGD's
    iterations, APGD-T's targets, Square's queries and runs (the adaptive section's, or
    ``queries``, ``restarts``), and the run's seed."""
    a = s.adaptive
    kinds = {name.partition("/")[0] for name in suite}
    out = {"suite": tuple(suite), "rng": s.seed}
    if any(k.startswith("apgd") for k in kinds):
        out["iterations"] = a["iterations"]
    if "apgd-t" in kinds:
        out["n_targets"] = a["n_targets"]
    if "square" in kinds:
        out.update(queries=queries or a["queries"], restarts=restarts or a["square_restarts"])
    return out


def alone_spec(model, attack, n, s):
    """One attack of a suite run by itself on the first ``n`` test images, with the
    settings it has in the suite."""
    kind, _, gradient = attack.partition("/")
    settings = dict(suite_settings((attack,), s))
    del settings["suite"]
    return attack_spec(model, kind, EPS, n, gradient or "exact", **settings)


def network_jobs(base, model, suite, s, n_suite, n_alone, n_eps, eps_grid=ADAPTIVE_EPS, budgets=True,
                 paper_eps=None, n_seeds=False, suite_spec=None):
    """The adaptive evaluation of one network, its jobs keyed under ``base``: the worst case
    over ``suite`` on the first ``n_suite`` test images (``<base>/suite``; ``suite_spec``
    replaces its spec); each attack alone and (``budgets``) APGD-CE with more iterations
    and restarts on the first ``n_alone``; the reduced suite (APGD-CE and a shorter Square)
    against eps on the first ``n_eps`` (``<base>/eps/<eps>/reduced``), beside
    ``paper_eps(eps)`` -> {name: AttackSpec}, the paper's attacks at that eps
    (``<base>/eps/<eps>/<name>``); and, unless ``n_seeds`` is False, Square run again
    with ``SQUARE_SEEDS`` other seeds on the first ``n_seeds`` (``<base>/square-seed/<k>``)."""
    a, jobs = s.adaptive, []
    jobs.append((f"{base}/suite", suite_spec or attack_spec(model, "worst_case", EPS, n_suite,
                                                             **suite_settings(suite, s))))
    for attack in suite + ("noise",):
        jobs.append((f"{base}/alone/{attack}", alone_spec(model, attack, n_alone, s)))
    if budgets:
        for role, (its, restarts) in zip(BUDGET_ROLES, a["budgets"]):
            jobs.append((f"{base}/budget/{role}", attack_spec(model, "apgd-ce", EPS, n_alone, iterations=its,
                                                              restarts=restarts, rng=s.seed)))
    eps_suite = tuple(x for x in suite if x.startswith("apgd-ce")) + ("square",)
    for eps in eps_grid:
        jobs.append((f"{base}/eps/{eps:g}/reduced", attack_spec(
            model, "worst_case", eps, n_eps, **suite_settings(eps_suite, s, a["eps_queries"], 1))))
        for name, spec in (paper_eps(eps) if paper_eps else {}).items():
            jobs.append((f"{base}/eps/{eps:g}/{name}", spec))
    if n_seeds is not False:
        for k in range(1, SQUARE_SEEDS + 1):
            jobs.append((f"{base}/square-seed/{k}", attack_spec(model, "square", EPS, n_seeds, queries=a["queries"],
                                                                rng=s.seed + k)))
    return jobs


def _frontend_sweep_jobs(section, s):
    """What the paper mentions but does not show on cnn4 with the front end:
    clean accuracy, the paper's PGD and the worst case over a reduced suite, for several
    rho or bases, on the first 2,000 test images and 4 training epochs (the sweep belongs
    to --extended)."""
    n = 100 if s.quick else 2000
    epochs = None if s.quick else 4
    values = RHO_SWEEP if section == "rho" else BASIS_SWEEP
    a, jobs = s.adaptive, []
    for v in values:
        model = s.cnn4("frontend", epochs=epochs, **({"rho": v} if section == "rho" else {"basis": v}))
        key = f"{section}/{v:g}" if section == "rho" else f"{section}/{v}"
        jobs.append((f"{key}/clean", model))
        jobs.append((f"{key}/pgd", attack_spec(model, "pgd", EPS, n, delta=EPS / 20, iterations=s.iterations,
                                               rng=s.seed)))
        jobs.append((f"{key}/worst_case", attack_spec(model, "worst_case", EPS, n,
                                                      **suite_settings(STUDY_SUITE, s, a["eps_queries"], 1))))
    return jobs


# -- beyond the paper: its open questions (Section 6), under the worst case ----------------
BEYOND_SUITE = {"none": "fc2/none", "sparse": "fc2/sparse", "frontend": "fc2/frontend", "combined": "fc2/frontend"}
MULTICLASS_SUITE = SUITES["cnn4/none"]   # fc10 has ten logits like cnn4, and no front end


def _worst_case_spec(model, suite, n, s):
    return attack_spec(model, "worst_case", EPS, n, **suite_settings(suite, s))


def _sweep_jobs(s, study, ds, seeds):
    """The sweep's networks as jobs, so that the report shows what the choice read."""
    jobs = []
    for (l1, rule), specs in sweep_networks(s, study, ds).items():
        for seed, spec in zip(seeds, specs):
            jobs.append((seeded(f"beyond/{study}/{DATASET_KEY[ds]}/sweep/{rule}/{l1:g}/clean", seed, s), spec))
    return jobs


def _combined_jobs(s, fc2, choice):
    """Front end + network sparsity on the binary tasks: the sparse fc2 trained on sparsified
    images, beside no defense and each defense alone (the networks of Table 2), over the
    training seeds: clean, the locally linear attack (both variants where there is a front
    end) and the worst case over each defense's adaptive suite on all test images. The
    combined network of the run's own seed gets the whole adaptive evaluation (sanity
    checks), with the locally linear attacks as the paper's attacks against eps."""
    a, jobs = s.adaptive, []
    for ds, key in DATASET_KEY.items():
        jobs += _sweep_jobs(s, "combined", ds, s.fc2_seeds)
        for seed in s.fc2_seeds:
            nets = {"none": fc2(ds, "none", seed), "sparse": fc2(ds, "sparse", seed),
                    "frontend": fc2(ds, "frontend", seed),
                    "combined": s.fc2(ds, "combined", l1=choice[ds][0], rule=choice[ds][1], seed=seed)}
            for defense, model in nets.items():
                base = f"beyond/combined/{key}/{defense}"
                modes = ("semi-white", "white") if model.has_frontend else ("semi-white",)
                jobs.append((seeded(f"{base}/clean", seed, s), model))
                for mode in modes:
                    jobs.append((seeded(f"{base}/ll-{mode}", seed, s), attack_spec(model, "ll", EPS, s.n_test,
                                                                                   mode=mode)))
                suite = SUITES[BEYOND_SUITE[defense]]
                if defense == "combined" and seed == s.seed:
                    jobs += network_jobs(base, model, suite, s, n_suite=s.n_test, n_alone=s.n_test,
                                         n_eps=a["fc2_eps_n"], paper_eps=lambda eps, model=model, modes=modes: {
                                             f"paper-{m}": attack_spec(model, "ll", eps, a["fc2_eps_n"], mode=m)
                                             for m in modes}, n_seeds=s.n_test)
                else:
                    jobs.append((seeded(f"{base}/suite", seed, s), _worst_case_spec(model, suite, s.n_test, s)))
    return jobs


def _multiclass_jobs(s, choice):
    """Network sparsity on ten classes: fc10 without defense and sparse (first-layer l1,
    pruning to rho = 3%, fine-tuning), over the training seeds: clean and the multiclass
    locally linear attack on all test images, the worst case over cnn4's suite on the first
    MULTICLASS_WORST_N. The sparse network of the run's own seed gets the whole adaptive
    evaluation (sanity checks)."""
    a, jobs = s.adaptive, []
    n_worst = s.n_test or MULTICLASS_WORST_N
    for ds, key in DATASET_KEY.items():
        jobs += _sweep_jobs(s, "multiclass", ds, s.multiclass_seeds)
        for seed in s.multiclass_seeds:
            nets = {"none": s.fc10(ds, seed=seed),
                    "sparse": s.fc10(ds, "sparse", l1=choice[ds][0], rule=choice[ds][1], seed=seed)}
            for defense, model in nets.items():
                base = f"beyond/multiclass/{key}/{defense}"
                jobs.append((seeded(f"{base}/clean", seed, s), model))
                jobs.append((seeded(f"{base}/ll", seed, s), attack_spec(model, "ll", EPS, s.n_test, mode="semi-white")))
                if defense == "sparse" and seed == s.seed:
                    jobs += network_jobs(base, model, MULTICLASS_SUITE, s, n_suite=n_worst, n_alone=a["sanity_n"],
                                         n_eps=a["fc2_eps_n"], paper_eps=lambda eps, model=model: {
                                             "paper": attack_spec(model, "ll", eps, a["fc2_eps_n"], mode="semi-white")})
                else:
                    jobs.append((seeded(f"{base}/suite", seed, s), _worst_case_spec(model, MULTICLASS_SUITE, n_worst, s)))
    return jobs


def _learned_basis_jobs(s):
    """The front end in a basis learned from the training images (PCA), on cnn4 in the
    setting of the basis study (its epochs, test images, PGD and worst case), plus each
    attack alone and accuracy against eps on the first images, for the sanity checks."""
    a = s.adaptive
    n = 100 if s.quick else 2000
    model = s.cnn4("frontend", epochs=None if s.quick else 4, basis=LEARNED)
    base = "beyond/learned-basis"
    jobs = [(f"{base}/clean", model),
            (f"{base}/pgd", attack_spec(model, "pgd", EPS, n, delta=EPS / 20, iterations=s.iterations, rng=s.seed))]
    suite = attack_spec(model, "worst_case", EPS, n, **suite_settings(STUDY_SUITE, s, a["eps_queries"], 1))
    jobs += network_jobs(base, model, STUDY_SUITE, s, n_suite=n, n_alone=a["eps_n"], n_eps=a["eps_n"],
                         eps_grid=LEARNED_SANITY_EPS, budgets=False, suite_spec=suite)
    return jobs

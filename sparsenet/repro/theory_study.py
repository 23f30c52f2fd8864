"""The theory section: the paper's theorems measured on this run's trained networks
(Theorem 1's high-SNR share, Theorem 2's layer bounds beside measured perturbations, the
certified radius, and how many switches flip under attack), cached like an attack.
"""
from __future__ import annotations

import hashlib
import json
import time

import numpy as np

from .. import attacks, files, theory
from ..linear_model import switch_flips
from ..models import Classifier
from . import cache
from .plan import plan
from .settings import Settings
from .specs import as_json, spec_hash

THEORY_EPS = (0.01, 0.02, 0.05, 0.1)                        # Theorem 2 and the certificate
FLIP_EPS = (0.02, 0.05, 0.1, 0.15, 0.2, 0.25)               # switch flips on cnn4
THEOREM1_N = (64, 256, 1024, 4096, 16384)


def theory_results(runner, s: Settings, sparse=None):
    """Theorems 1 and 2, the certified radius and switch flips, on this run's networks (the
    sparse fc2 is Table 2's, ``sparse``: {dataset: (l1, rule)}); cached in ``<cache>/theory``
    like the attacks (a dict of JSON-ready values)."""
    models = dict(plan("theory", s, sparse))
    # The key covers the settings, the networks and the grids below, so changing any recomputes.
    grids = json.dumps([THEORY_EPS, FLIP_EPS, THEOREM1_N]).encode()
    key = "-".join([spec_hash(s), hashlib.sha256(grids).hexdigest()[:8]] + [m.key()[:6] for m in models.values()])
    path = runner.cache_dir / "theory" / f"theory-{key}.json"
    specs = {k: as_json(m) for k, m in models.items()}
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
        runner.log("theory: Theorem 1 (Monte Carlo), Theorem 2 and certified radius on fc2, switch flips on cnn4")
        out = {"theorem1": {"N": list(THEOREM1_N),
                            "share": [theory.high_snr_fraction(N, M=1000, delta=0.01, C=0.003, trials=4, rng=N)
                                      for N in THEOREM1_N]}}
        out["theorem2"], out["certified"] = {}, {}
        for defense in ("none", "sparse"):
            spec = models[f"theory/fc2-mnist/{defense}"]
            net = runner.model(spec)
            x, y = runner.datasets.test_set(spec)
            out["theorem2"][defense] = _theorem2(net, x, y, s.seed)
            r = theory.certified_radius(net, x, y)
            out["certified"][defense] = {"median": float(np.median(r)), "mean": float(r.mean()),
                                         "certified_at": {f"{e:g}": float(np.mean(r > e)) for e in THEORY_EPS},
                                         "gammas": theory.gammas(net).tolist()}
        out["flips"] = {}
        for defense in ("none", "frontend"):
            spec = models[f"theory/cnn4/{defense}"]
            clf = runner.classifier(spec)
            x, y = runner.datasets.test_set(spec, n)
            out["flips"][defense] = _flips(clf, x, y)
        out["spec"] = {k: as_json(m) for k, m in models.items()}
        out["wall_seconds"] = time.perf_counter() - t0
        files.write_json(path, out)
        return json.loads(path.read_text())

    return cache.get_or_compute(path, load, compute, runner.log)


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

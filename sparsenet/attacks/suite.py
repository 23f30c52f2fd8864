"""Attacks by name, and robust accuracy as the per-example worst case over a suite of them
(AutoAttack style).

    result = worst_case(clf, x, y, eps)              # the default suite for clf
    result.robust_accuracy                           # the number to quote
    result.broken_by                                 # per example: which attack broke it

``ATTACKS`` is the one table from an attack's name to its library function. ``make(name,
**settings)`` builds an ``Attack`` from it, its settings passed to the function as keyword
arguments: a setting the function does not take, or a bad value (``iterations=0``), is a
``ValueError`` when the attack is built, not after the attacks before it have run.
``build_suite(names, **settings)`` builds several, each taking the settings its function
has; a setting that no attack of the suite takes is refused too.

Attacks run in a fixed order, each on the examples that every earlier attack left
classified correctly; an example counts as robust only if it is classified correctly
clean and survives them all. Every attack's output is re-predicted here (nothing an
attack claims is trusted) and checked against the ε-ball and [0, 1] by ``evaluate``.
"""
from __future__ import annotations

import inspect
import time
from dataclasses import dataclass, field

import numpy as np

from ..frontend import GRADIENTS
from ..progress import check_log, duration, stderr
from .autopgd import apgd, apgd_targeted, apgd_units, first_dense_weights
from .common import SETTINGS, check_inputs, check_settings, evaluate, project, selected, with_gradient
from .cw import carlini_wagner_l2
from .gradient import fgsm, iterative_fgsm, mi_fgsm, pgd
from .linear import locally_linear
from .square_attack import square

CLEAN = "clean"        # broken_by value of an example misclassified without any attack
ROBUST = ""            # broken_by value of an example no attack broke


def random_sign(clf, x, y, eps, rng=None, only=None, log=None):
    """x + ε sgn(u), u uniform: random corners of the ε-ball, clipped to [0, 1]. The
    baseline every attack must beat by far (a sanity check, Carlini et al. 2019). ``clf``
    is not queried (only its input shape checks x); one draw for all of x, whatever
    ``only`` selects."""
    x, y = check_inputs(clf, x, y, eps)
    rng = np.random.default_rng(check_settings(rng=rng)["rng"])
    noisy = project(x + eps * rng.choice(np.array([-1, 1], x.dtype), size=x.shape), x, eps)
    out = x.copy()
    idx = selected(only, len(x))
    out[idx] = noisy[idx]
    return out


def transfer(clf, x, y, eps, source, steps_per_eps=20, iterations=80, rng=0, batch_size=500, only=None,
             log=stderr):
    """A black-box transfer attack: adversarials crafted by PGD (δ = ε / ``steps_per_eps``)
    on the classifier ``source`` (e.g. the undefended network), handed to ``clf``, which is
    never queried."""
    check_inputs(clf, x, y, eps)
    if not (hasattr(source, "forward") and hasattr(source, "backward") and hasattr(source, "net")):
        raise ValueError(f"source must be the classifier the adversarials are crafted on, got {source!r}")
    s = check_settings(steps_per_eps=steps_per_eps)
    return pgd(source, x, y, eps, eps / s["steps_per_eps"], iterations, rng=rng, batch_size=batch_size, only=only,
               log=log)


@dataclass(frozen=True)
class Kind:
    """One row of ``ATTACKS``: the function, the settings fixed by the name (APGD's loss),
    whether a front end's gradient matters to it, and whether it takes an ℓ∞ budget."""
    function: object
    fixed: tuple = ()
    gradient: bool = True
    linf: bool = True

    def parameters(self):
        """The settings the function takes: its keyword parameters, less the call's own
        arguments and the fixed ones."""
        call = {"clf", "x", "y", "eps", "only", "log", "targets"} | {k for k, _ in self.fixed}
        return [p for p in inspect.signature(self.function).parameters if p not in call]


ATTACKS = {
    "fgsm": Kind(fgsm),
    "ifgsm": Kind(iterative_fgsm),
    "pgd": Kind(pgd),
    "mifgsm": Kind(mi_fgsm),
    "ll": Kind(locally_linear),
    "cw": Kind(carlini_wagner_l2, linf=False),
    "apgd-ce": Kind(apgd, (("loss", "ce"),)),
    "apgd-dlr": Kind(apgd, (("loss", "dlr"),)),
    "apgd-margin": Kind(apgd, (("loss", "margin"),)),
    "apgd-t": Kind(apgd_targeted),
    "apgd-units": Kind(apgd_units),
    "square": Kind(square, gradient=False),
    "transfer": Kind(transfer, gradient=False),
    "noise": Kind(random_sign, gradient=False),
}


@dataclass(frozen=True)
class Attack:
    """One attack, ready to run: ``attack(clf, x, y, eps, only=None, log=...)`` returns
    adversarial images. ``name`` labels it in a suite ("apgd-ce/exact"); ``function`` is
    called as ``function(clf, x, y, eps, only=only, log=log, **settings)`` (without eps
    when ``linf`` is False: C&W's ℓ2) on the classifier with its front end's gradient
    set to ``gradient`` ("exact", "straight-through", "bpda"; None: as the classifier has
    it). ``make`` builds one from ``ATTACKS`` with checked settings; your own attack is
    ``Attack("mine", my_attack)`` for any function of that signature."""
    name: str
    function: object
    settings: dict = field(default_factory=dict)
    gradient: str | None = None
    linf: bool = True

    def __call__(self, clf, x, y, eps=None, only=None, log=stderr):
        target = clf if self.gradient is None else with_gradient(clf, self.gradient)
        budget = (eps,) if self.linf else ()
        return self.function(target, x, y, *budget, only=only, log=log, **self.settings)


def settings_for(name, settings):
    """Of ``settings``, those the attack called ``name`` takes (a seed only for an attack that
    draws one): what ``build_suite`` gives each attack of a suite."""
    kind = name.partition("/")[0]
    if kind not in ATTACKS:
        raise ValueError(f"unknown attack {kind!r} in {name!r}; choose from {sorted(ATTACKS)}")
    taken = ATTACKS[kind].parameters()
    return {k: v for k, v in settings.items() if k in taken}


def make(name, **settings):
    """The ``Attack`` called ``name`` ("<kind>[/<gradient>]", kind a key of ``ATTACKS``),
    with ``settings`` passed to its function as keyword arguments. Raises ``ValueError``
    for an unknown kind or gradient, a setting the function does not take, or a bad value."""
    if not isinstance(name, str):
        raise ValueError(f"an attack name must be a string such as 'apgd-ce/exact', got {name!r}")
    kind, _, gradient = name.partition("/")
    if kind not in ATTACKS:
        raise ValueError(f"unknown attack {kind!r} in {name!r}; choose from {sorted(ATTACKS)}")
    entry = ATTACKS[kind]
    if not entry.gradient:
        if gradient:
            raise ValueError(f"{kind} takes no gradient, so {name!r} names none to use; write {kind!r}")
        gradient = None
    elif gradient and gradient not in GRADIENTS:
        raise ValueError(f"unknown gradient {gradient!r} in {name!r}; choose from {GRADIENTS}")
    taken = entry.parameters()
    unknown = [k for k in settings if k not in taken]
    if unknown:
        raise ValueError(f"{kind} takes no setting {', '.join(map(repr, unknown))}; its settings are "
                         f"{', '.join(taken)}")
    other = {k: settings.pop(k) for k in list(settings) if k not in SETTINGS}
    settings = {**dict(entry.fixed), **check_settings(**settings), **_check_other(kind, other)}
    if entry.gradient:
        gradient = gradient or "exact"
        return Attack(f"{kind}/{gradient}", entry.function, settings, gradient, entry.linf)
    return Attack(kind, entry.function, settings, None, entry.linf)


def _check_other(kind, other):
    """The settings ``check_settings`` has no rule for: loss, mode, source."""
    if "mode" in other and other["mode"] not in ("semi-white", "white"):
        raise ValueError(f"mode must be 'semi-white' or 'white', got {other['mode']!r}")
    if "source" in other:
        source = other["source"]
        if not (hasattr(source, "forward") and hasattr(source, "backward") and hasattr(source, "net")):
            raise ValueError(f"source must be the classifier the adversarials are crafted on, got {source!r}")
    if kind == "transfer" and "source" not in other:
        raise ValueError("a transfer attack needs source=, the classifier it crafts its adversarials on")
    return other


def build_suite(names, **settings):
    """``Attack`` entries from ``names`` (names, or ``Attack``s used as they are), in order;
    each named attack takes, of ``settings``, those its function has. Raises ``ValueError``
    for a setting no named attack takes, an unknown name, a bad value, or two attacks of
    one name. Example: ``build_suite(["apgd-ce/exact", "square"], iterations=100,
    queries=5000, rng=0)``."""
    if isinstance(names, (str, Attack)):
        names = [names]
    names = list(names)
    used = set()
    out = []
    for name in names:
        if isinstance(name, Attack):
            out.append(name)
            continue
        kind = name.partition("/")[0] if isinstance(name, str) else None
        mine = settings_for(name, settings) if kind in ATTACKS else {}
        used |= set(mine)
        out.append(make(name, **mine))
    unused = [k for k in settings if k not in used]
    if unused:
        raise ValueError(f"no attack of the suite {[a.name for a in out]} takes the setting(s) "
                         f"{', '.join(map(repr, unused))}")
    labels = [a.name for a in out]
    if len(set(labels)) != len(labels) or CLEAN in labels or ROBUST in labels:
        raise ValueError(f"attack names must be distinct and not {CLEAN!r}: {labels}")
    return out


@dataclass
class WorstCase:
    """What ``worst_case`` found: per example, the adversarial that broke it and the name of
    the attack that did (in suite order: the first to succeed), the robust accuracy left
    after each attack, and each attack's wall time."""
    x_adv: np.ndarray            # per example: the adversarial that broke it, else x
    broken_by: np.ndarray        # per example: attack name, CLEAN, or ROBUST ("")
    accuracy_after: dict = field(default_factory=dict)   # robust accuracy after each attack
    seconds: dict = field(default_factory=dict)

    @property
    def robust(self):
        return self.broken_by == ROBUST

    @property
    def robust_accuracy(self):
        return float(self.robust.mean())


def worst_case(clf, x, y, eps, attacks=None, batch_size=500, log=stderr):
    """Run ``attacks`` (names or ``Attack``s, see ``build_suite``; ``default_suite(clf)``
    when None) in order, each on the examples still classified correctly; returns a
    ``WorstCase``. ``log``: a line per attack and the attacks' own progress (None: silent).

    Raises ``ValueError`` for an empty x: a robust accuracy over no images is undefined."""
    x, y = check_inputs(clf, x, y, eps)
    log = check_log(log)
    if len(x) == 0:
        raise ValueError(f"worst_case needs at least one image: a robust accuracy over none is undefined "
                         f"(x has shape {x.shape})")
    attacks = default_suite(clf) if attacks is None else build_suite(attacks)
    x_adv = x.copy()
    broken_by = np.full(len(x), ROBUST, dtype=object)
    broken_by[clf.predict(x, batch_size) != y] = CLEAN
    result = WorstCase(x_adv, broken_by)
    result.accuracy_after[CLEAN] = result.robust_accuracy
    start = time.perf_counter()
    for k, attack in enumerate(attacks):
        idx = np.flatnonzero(result.robust)
        t0 = time.perf_counter()
        if len(idx):
            # The whole set goes in, so every random draw is the one a run on all examples
            # would make: each attack here gives each example exactly its stand-alone result.
            adv = attack(clf, x, y, eps, only=result.robust.copy(), log=log)[idx]
            correct = evaluate(clf, x[idx], y[idx], adv, eps=eps, batch_size=batch_size)["correct"]
            x_adv[idx[~correct]] = adv[~correct]
            broken_by[idx[~correct]] = attack.name
        result.seconds[attack.name] = time.perf_counter() - t0
        result.accuracy_after[attack.name] = result.robust_accuracy
        if log:
            log(f"worst case, attack {k + 1}/{len(attacks)} ({attack.name}): {100 * result.robust_accuracy:.2f}% "
                f"robust ({len(idx):,} attacked, {duration(result.seconds[attack.name])}; "
                f"{duration(time.perf_counter() - start)} so far)")
    return result


# The default suite's Square Attack runs this many times, each run with new draws on the
# examples the earlier runs left, so that the worst case does not hang on one random draw: on a
# network whose gradient is masked, each further run of 5,000 queries still breaks examples the
# earlier runs missed, fewer and fewer (REPORT.md measures how many). The later runs only see
# what the first left, so they cost a share of the first run's time equal to that share of the
# examples.
SQUARE_RESTARTS = 10


def default_names(clf, n_targets=9, queries=5000):
    """The suite a user of the library should run, by name: APGD-CE once per way of
    crossing the front end (exact VJP, straight-through clip, BPDA identity), APGD-DLR (the
    margin loss for one-logit networks), APGD-T (networks with >= 4 classes), APGD from the
    corners that switch each hidden unit (networks whose first layer is Dense: a unit off
    everywhere a gradient attack goes is invisible to it), then the gradient-free Square Attack."""
    gradients = ("exact", "straight-through", "bpda") if clf.frontend is not None else ("exact",)
    names = [f"apgd-ce/{g}" for g in gradients]
    names.append("apgd-dlr/exact" if clf.n_logits >= 3 else "apgd-margin/exact")
    if clf.n_logits >= 4 and n_targets:
        names.append("apgd-t/exact")
    if first_layer_is_dense(clf.net):
        names.append("apgd-units/exact")
    if queries:
        names.append("square")
    return names


def first_layer_is_dense(net):
    """Whether ``apgd_units`` applies: the network's first layer with weights is Dense."""
    try:
        first_dense_weights(net)
    except ValueError:
        return False
    return True


def default_suite(clf, iterations=100, n_targets=9, queries=5000, restarts=SQUARE_RESTARTS, rng=0,
                  batch_size=500):
    """What ``worst_case`` runs when given no suite: ``default_names(clf)`` with APGD's
    ``iterations`` and ``n_targets`` targets, and Square with ``queries`` queries and
    ``restarts`` runs.

    Cost, in forward-backward passes per image still robust when each attack starts: about
    100 for each APGD-CE and APGD-DLR, 900 for APGD-T (9 targets), 100 per start for APGD
    from unit starts (2H starts for H hidden units, each on what the earlier ones left), and for Square 5,000
    forward passes for its first run plus 5,000 more for each later run on the images the
    earlier runs left (on a well-defended network, most of them)."""
    names = default_names(clf, n_targets, queries)
    suite = []
    for name in names:
        kind = name.partition("/")[0]
        settings = {"rng": rng, "batch_size": batch_size if kind != "square" else 2 * batch_size}
        if kind.startswith("apgd"):
            settings["iterations"] = iterations
        if kind == "apgd-t":
            settings["n_targets"] = n_targets
        if kind == "square":
            settings.update(queries=queries, restarts=restarts)
        suite.append(make(name, **settings_for(name, settings)))
    return suite

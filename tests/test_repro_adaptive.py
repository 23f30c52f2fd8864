"""sparsenet.repro.sections.adaptive and .evaluation: the adaptive section's cells (each attack's
strongest way through the front end, the gradient attacks' worst case, the worst case with the
paper's attacks, the reduced suite against eps, the Square seeds study) and its sanity checks, on
made-up results worked out by hand."""
import numpy as np

from sparsenet.repro.sections import Run, adaptive
from sparsenet.repro.sections.evaluation import ADAPTIVE_EPS


def cells_of(results, so_far=None):
    return adaptive.cells(Run(results, {}, cells=dict(so_far or {})))


# -- the report's view of the adaptive section ------------------------------------------------------
def fake(correct, clean=None, **extra):
    """An attack result as ``attacks.evaluate`` gives it: per example correct on the
    adversarial (and clean: all, unless given)."""
    correct = np.asarray(correct, bool)
    clean = np.ones(len(correct), bool) if clean is None else np.asarray(clean, bool)
    return {"correct": correct.tolist(), "clean": clean.tolist(), "n": len(correct),
            "robust_accuracy": float((correct & clean).mean()), "adversarial_accuracy": float(correct.mean()),
            "clean_accuracy": float(clean.mean()), **extra}


def test_worst_case_cell_combines_the_suite_with_the_papers_attacks_example_by_example():
    suite = fake([1, 1, 1, 0], accuracy_after={"clean": 1.0, "apgd-ce/exact": 0.75})
    results = {"adaptive/cnn4/frontend/suite": suite,
               "table1/pgd/frontend": fake([1, 0, 1, 1], any_iterate=fake([1, 0, 0, 1])),
               "table1/fgsm/frontend": fake([1, 1, 1, 1])}
    cells = cells_of(results)
    assert cells["adaptive/cnn4/frontend/worst_case"] == (25.0, 4)
    assert cells["adaptive/cnn4/frontend/suite"] == (75.0, 4)
    assert cells["adaptive/cnn4/frontend/after/apgd-ce/exact"] == (75.0, 4)


def test_sanity_checks_flag_masking_stalling_and_weak_budgets():
    net = "cnn4/frontend"
    cells = {f"adaptive/{net}/gradient_worst": (12.0, 500), f"adaptive/{net}/square": (5.5, 500),
             f"adaptive/{net}/transfer": (60.0, 500), f"adaptive/{net}/noise": (97.0, 500),
             f"adaptive/{net}/budget/base": (20.8, 500), f"adaptive/{net}/budget/iterations": (20.0, 500),
             f"adaptive/{net}/budget/restarts": (15.0, 500)}
    for e, v in zip(ADAPTIVE_EPS, (80, 50, 30, 20, 10, 6, 4, 4)):
        cells[f"adaptive/{net}/eps/{e:g}/reduced"] = (float(v), 200)
    cells.update({"table1/fgsm/frontend": (84.0, 10000), "table1/pgd/frontend": (50.0, 10000)})
    checks = {c.name: (c.holds, c.measured) for c in adaptive.sanity(cells, net)}
    assert checks["gradient-free (Square) does not beat the gradient attacks by more than 1 point"][0] is False
    assert "masked" in checks["gradient-free (Square) does not beat the gradient attacks by more than 1 point"][1]
    assert checks["accuracy falls to 0 as ε grows"] == (False, "stalls at 4.0% (ε = 0.5)")
    assert checks["more iterations (100 → 400) or restarts (1 → 5) change little"][0] is False   # 5.8 points
    assert checks["iterative beats single-step"][0] is True
    assert checks["white box beats transfer"][0] is True
    assert checks["random sign noise is far weaker than any attack"][0] is True
    cells[f"adaptive/{net}/square"] = (11.5, 500)                 # within a point: no masking flag
    cells[f"adaptive/{net}/eps/0.5/reduced"] = (0.0, 200)
    cells[f"adaptive/{net}/budget/restarts"] = (19.5, 500)
    checks = {c.name: c.holds for c in adaptive.sanity(cells, net)}
    assert checks["gradient-free (Square) does not beat the gradient attacks by more than 1 point"] is True
    assert checks["accuracy falls to 0 as ε grows"] is True
    assert checks["more iterations (100 → 400) or restarts (1 → 5) change little"] is True


def test_adaptive_cells_by_hand():
    """APGD-CE's cell is its strongest way through the front end; the gradient attacks'
    worst case leaves out Square, transfer and noise; the eps sweep counts the paper's
    attack's any-iterate verdict."""
    b = "adaptive/cnn4/frontend"
    results = {
        f"{b}/suite": fake([1, 1, 1, 1, 1, 1, 1, 0], accuracy_after={"clean": 1.0}),
        f"{b}/alone/apgd-ce/exact": fake([1, 1, 1, 1, 1, 1, 0, 0]),             # 75%
        f"{b}/alone/apgd-ce/straight-through": fake([1, 1, 1, 1, 1, 0, 0, 0]),  # 62.5%: the CE cell
        f"{b}/alone/apgd-ce/bpda": fake([1, 1, 1, 1, 1, 1, 1, 0]),              # 87.5%
        f"{b}/alone/apgd-dlr/exact": fake([0, 1, 1, 1, 1, 1, 1, 1]),
        f"{b}/alone/square": fake([1, 0, 1, 1, 1, 1, 1, 1]),                    # gradient-free
        f"{b}/alone/transfer": fake([1, 1, 0, 1, 1, 1, 1, 1]),                  # black box
        f"{b}/alone/noise": fake([1, 1, 1, 0, 1, 1, 1, 1]),                     # black box
        f"{b}/eps/0.25/paper": fake([1, 1, 1, 1, 1, 1, 1, 1], any_iterate=fake([1, 0, 1, 1, 1, 1, 1, 1])),
        f"{b}/eps/0.25/reduced": fake([1, 1, 0, 1, 1, 1, 1, 1]),
    }
    cells = cells_of(results)
    assert cells[f"{b}/apgd-ce"] == (62.5, 8)
    # examples 0 (DLR) and 5, 6, 7 (CE) fall to a gradient attack: 4 of 8 survive
    assert cells[f"{b}/gradient_worst"] == (50.0, 8)
    assert cells[f"{b}/eps/0.25/paper"] == (87.5, 8)             # example 1 fooled at some iterate
    assert cells[f"{b}/eps/0.25/reduced"] == (75.0, 8)           # examples 1 (paper) and 2 (suite)
    assert cells[f"{b}/square"] == (87.5, 8) and cells[f"{b}/transfer"] == (87.5, 8)


def sanity_cells(**values):
    net = "cnn4/frontend"
    return net, {f"adaptive/{net}/{k}": (v, 500) for k, v in values.items()}


def test_masking_is_flagged_as_soon_as_square_wins_by_more_than_one_point():
    """The margin is one point: Square winning by 1.5 points is flagged, by 1 point not."""
    check = "gradient-free (Square) does not beat the gradient attacks by more than 1 point"
    for square, ok in ((10.5, False), (11.0, True), (12.0, True)):
        net, cells = sanity_cells(gradient_worst=12.0, square=square)
        got = {c.name: c.holds for c in adaptive.sanity(cells, net)}
        assert got[check] is ok, square


def test_noise_must_be_far_weaker_than_the_weakest_attack():
    """Noise at 65% is within 10 points of transfer's 60% (the weakest attack): the check
    fails, however strong the others: noise is compared with the weakest attack."""
    check = "random sign noise is far weaker than any attack"
    net, cells = sanity_cells(gradient_worst=12.0, square=11.5, transfer=60.0, noise=65.0)
    got = {c.name: (c.holds, c.measured) for c in adaptive.sanity(cells, net)}
    assert got[check] == (False, "noise 65.0% vs the weakest attack 60.0%")
    net, cells = sanity_cells(gradient_worst=12.0, square=11.5, transfer=60.0, noise=70.5)
    assert {c.name: c.holds for c in adaptive.sanity(cells, net)}[check] is True


def test_an_example_misclassified_when_clean_is_never_robust_even_if_an_attack_fixes_it():
    """One definition of robust: a paper's attack that moves a misclassified image into its
    class does not rescue it in the worst case."""
    b = "adaptive/cnn4/frontend"
    # example 3 is wrong when clean, yet both attacks left their output in its class
    results = {f"{b}/suite": fake([1, 1, 0, 1], clean=[1, 1, 1, 0], accuracy_after={"clean": 0.75}),
               "table1/pgd/frontend": fake([1, 1, 1, 1], clean=[1, 1, 1, 0])}
    assert cells_of(results)[f"{b}/worst_case"] == (50.0, 4)


def test_square_seed_cells_by_hand():
    """The worst case with k Square runs of other seeds in place of the suite's, the worst
    case itself, with one or all extra runs added, and the move one more run makes."""
    b = "adaptive/cnn4/frontend"
    # 8 examples: 0-3 robust under the suite, 4-5 broken by the suite's Square, 6-7 by APGD.
    suite = fake([1, 1, 1, 1, 0, 0, 0, 0], accuracy_after={"clean": 1.0},
                 broken_by=["", "", "", "", "square", "square", "apgd-ce/exact", "apgd-ce/exact"])
    runs = {1: [0, 1, 1, 1, 0, 1, 1, 1], 2: [1, 0, 1, 1, 1, 0, 1, 1], 3: [1, 1, 1, 1, 1, 1, 1, 1],
            4: [1, 1, 0, 1, 1, 1, 1, 1]}
    results = {f"{b}/suite": suite, **{f"{b}/square-seed/{k}": fake(v) for k, v in runs.items()}}
    cells = cells_of(results)
    # before Square: examples 0-5 survive; run 1 breaks 0 and 4, run 2 breaks 1 and 5, run 4 breaks 2
    assert cells[f"{b}/square-runs/1"] == (50.0, 8)       # 1, 2, 3, 5
    assert cells[f"{b}/square-runs/2"] == (25.0, 8)       # 2, 3
    assert cells[f"{b}/square-runs/4"] == (12.5, 8)       # 3
    assert cells[f"{b}/square-runs/suite"] == (50.0, 8)
    assert cells[f"{b}/square-runs/suite+1"] == (37.5, 8)  # run 1 takes example 0
    assert cells[f"{b}/square-runs/suite+4"] == (12.5, 8)
    assert cells[f"{b}/square-runs/move"] == (12.5, None)

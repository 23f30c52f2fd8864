"""sparsenet.repro.report and the sections' cells: the cells built from a small made-up set of
results, the summary that pairs each with the paper (error bars, spread over seeds), and the
markdown report."""
import pytest

from sparsenet.repro import report, sections
from sparsenet.repro.sections import Run
from sparsenet.repro.settings import Settings
from sparsenet.stats import wilson_interval

PAPER = sections.PAPER


def all_cells(results, infos):
    return sections.cells(Run(results, infos))


def markdown(summ, timing, figures=(), theory=None):
    return report.markdown(summ, {"seed": 0}, timing, list(figures),
                           report.Context(Settings(), theory=theory, paper=PAPER))


def fixture_results():
    """A tiny, made-up set of results in the shape ``Context.attack`` returns."""
    r = lambda acc: {"robust_accuracy": acc, "adversarial_accuracy": acc, "n": 10}
    results = {"table1/ll-semi-white/none": r(0.10), "table1/ll-semi-white/frontend": r(0.85),
               "table1/ll-white/frontend": r(0.70),
               "table1/pgd/frontend": {"robust_accuracy": 0.40, "adversarial_accuracy": 0.40, "n": 10, "any_iterate": r(0.30)},
               "table2/mnist/frontend-semi-white": r(0.9), "table2/mnist/frontend-white": r(0.8),
               "fig7/none": {"robust_accuracy": 0.0, "adversarial_accuracy": 0.0, "n": 3, "cw_success": [True, True, False],
                             "linf": [0.5, 0.1, 0.0], "l2": [1.0, 3.0, 0.0]}}
    infos = {"b2/cnn4/none": {"test_accuracy": 0.9937, "n_test": 10000}}
    return results, infos


def test_cells_take_the_stronger_locally_linear_variant_and_cw_statistics():
    cells = {k: v for k, (v, _) in all_cells(*fixture_results()).items()}
    assert cells["table1/ll/frontend"] == pytest.approx(70.0)     # min(semi-white 85, white 70)
    assert cells["table2/mnist/frontend"] == pytest.approx(80.0)
    assert cells["table1/pgd-any/frontend"] == pytest.approx(30.0)  # from the same run
    assert cells["b2/cnn4/none"] == pytest.approx(99.37)
    assert cells["fig7/none/mean_linf"] == pytest.approx(0.3)      # successful examples only
    assert cells["fig7/none/mean_l2"] == pytest.approx(2.0)
    assert cells["fig7/none/mean_l2_per_sqrt_n"] == pytest.approx(2.0 / 28)
    assert cells["fig7/none/outside_budget"] == pytest.approx(50.0)
    n = {k: n for k, (_, n) in all_cells(*fixture_results()).items()}
    assert n["table1/pgd/frontend"] == 10 and n["b2/cnn4/none"] == 10000 and n["fig7/none/mean_l2"] is None


def test_cw_outside_budget_counts_only_linf_above_eps():
    """outside_budget is the share of successful C&W adversarials with l-inf > 0.25: exactly
    0.25 is inside."""
    r = {"robust_accuracy": 0.0, "adversarial_accuracy": 0.0, "n": 4, "cw_success": [True, True, True, True], "linf": [0.25, 0.3, 0.1, 0.25],
         "l2": [1.0, 1.0, 1.0, 1.0]}
    assert all_cells({"fig7/frontend": r}, {})["fig7/frontend/outside_budget"][0] == pytest.approx(25.0)


def test_summary_and_report_pair_every_cell_with_the_paper():
    summ = report.summary(all_cells(*fixture_results()), Run({}, {}))
    assert summ["table1/pgd/frontend"] == {"paper": PAPER["table1/pgd/frontend"], "ours": 40.0, "n": 10}
    assert summ["table1/pgd/frontend/ci95"]["ours"] == [16.818, 68.7326]    # Wilson, 4 of 10
    assert summ["fig7/none/mean_l2_per_sqrt_n"]["paper"] == 0.076 and summ["fig7/none/mean_l2"]["paper"] is None
    text = markdown(summ, {"wall_seconds": 5, "peak_mb": 900, "compute_seconds": 120},
                    [("Figure 5", "figures/fig5.png")])
    assert "| PGD, front end | 49.95 | 40.00 [16.8, 68.7] | -9.95 ⚠ |" in text
    assert "`table1/pgd/frontend` (paper 49.95, ours 40.00)" in text   # > 5 points: listed
    assert "![Figure 5](figures/fig5.png)" in text and "2.0 minutes" in text    # cold-cache compute time
    assert "0.1 minutes" not in text                                            # never the re-run's wall time


def test_report_renders_the_theory_section():
    th = {"theorem1": {"N": [64, 16384], "share": [0.5, 1.0]},
          "theorem2": {"sparse": [{"eps": 0.1, "bound": [0.4, 2.0], "random": [0.1, 0.2], "ifgsm": [0.3, 1.0]}]},
          "certified": {"sparse": {"median": 0.07, "mean": 0.08, "certified_at": {"0.05": 0.75},
                                   "gammas": [3.0, 5.0]}},
          "flips": {"none": [{"eps": 0.25, "attack": "fgsm", "all": 0.25, "layers": {}}]}}
    text = markdown({}, {"wall_seconds": 1, "peak_mb": 1}, theory=th)
    assert "N = 16,384: 100.0%" in text
    assert "| sparse | 0.1 | 2 | 2 | 0.2 | 1 | 0.50 |" in text        # measured / bound = 1.0 / 2.0
    assert "| fc2 sparse | 3, 5 | 0.0700 | 75.0% |" in text
    assert "| 0.25 | 25.00% | – | – | – |" in text


def test_summary_aggregates_a_toy_table_over_seeds():
    cells = {"table2/mnist/sparse": (80.0, 2000), "table2/mnist/sparse@1": (84.0, 2000),
             "table2/mnist/sparse@2": (76.0, 2000), "table2/mnist/none": (8.0, 2000),
             "table2/fashion/sparse": (50.0, 2000), "table2/fashion/sparse@1": (55.0, 2000)}
    summ = report.summary(cells, Run({}, {}))
    assert summ["table2/mnist/sparse"] == {"paper": 80.46, "ours": 80.0, "n": 2000}   # seed 0 under today's key
    assert summ["table2/mnist/sparse/mean"]["ours"] == pytest.approx(80.0)
    assert summ["table2/mnist/sparse/std"]["ours"] == pytest.approx(4.0)
    assert (summ["table2/mnist/sparse/min"]["ours"], summ["table2/mnist/sparse/max"]["ours"]) == (76.0, 84.0)
    assert summ["table2/mnist/sparse/seeds"]["ours"] == 3
    assert summ["table2/mnist/sparse/paper_in_seed_range"]["ours"] is True
    assert summ["table2/fashion/sparse/paper_in_seed_range"]["ours"] is False      # 66.94 above 50-55
    assert "table2/mnist/none/mean" not in summ          # one seed: no spread
    lo, hi = summ["table2/mnist/sparse/ci95"]["ours"]
    assert (lo, hi) == (pytest.approx(100 * wilson_interval(1600, 2000)[0], abs=1e-4),
                        pytest.approx(100 * wilson_interval(1600, 2000)[1], abs=1e-4))

"""Figures are drawn from whatever results are present, each into its own file (the sections'
figures, saved by sparsenet.repro.plots)."""
from sparsenet.repro import sections
from sparsenet.repro.sections import Run


def curve(acc):
    return {"robust_accuracy": acc, "adversarial_accuracy": acc}


FIG5 = {"fig5/no defense: linear attack/0": curve(0.99), "fig5/no defense: linear attack/0.1": curve(0.4),
        "fig5/front end: white box/0": curve(0.99), "fig5/front end: white box/0.1": curve(0.8)}
FIG6 = {k.replace("fig5", "fig6"): v for k, v in FIG5.items()}
CW = {"robust_accuracy": 0.0, "adversarial_accuracy": 0.0, "cw_success": [True, False, True], "linf": [0.3, 0.0, 0.1], "l2": [1.0, 0.0, 2.0]}


def test_each_paper_figure_gets_its_own_file_and_only_when_its_results_exist(tmp_path):
    out = sections.figures(Run({**FIG5, **FIG6, "fig7/none": CW}, {}), tmp_path)
    assert [title.split(" —")[0] for title, _ in out] == ["Figure 5", "Figure 6"]   # fig7 needs both runs
    paths = [p for _, p in out]
    assert [p.name for p in paths] == ["fig5.png", "fig6.png"] and all(p.stat().st_size > 5000 for p in paths)
    out = sections.figures(Run({"fig7/none": CW, "fig7/frontend": CW}, {}), tmp_path / "cw")
    assert [p.name for _, p in out] == ["fig7.png"] and out[0][1].stat().st_size > 5000
    assert sections.figures(Run({}, {}), tmp_path / "none") == []


def test_theory_figures(tmp_path):
    th = {"theorem1": {"N": [64, 256], "share": [0.5, 0.9]},
          "theorem2": {d: [{"eps": e, "bound": [e, 2 * e], "random": [e / 4, e / 3], "ifgsm": [e / 2, e]}
                           for e in (0.01, 0.1)] for d in ("none", "sparse")},
          "flips": {"none": [{"eps": 0.1, "attack": "fgsm", "all": 0.2}, {"eps": 0.2, "attack": "ifgsm", "all": 0.3}]}}
    out = sections.figures(Run({}, {}, theory=th), tmp_path)
    assert sorted(p.name for _, p in out) == ["switch_flips.png", "theorem1.png", "theorem2.png"]
    assert all(p.stat().st_size > 5000 for _, p in out)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".tmp-")]


def test_figure_5_draws_the_white_box_apart_and_the_semi_white_box_in_its_defenses_colour(tmp_path, monkeypatch):
    from matplotlib.colors import to_hex

    from sparsenet.repro.defenses import DEFENSES
    from sparsenet.repro.sections import accuracy_vs_eps
    drawn = {}

    def keep(fig, path):
        drawn.update({line.get_label(): to_hex(line.get_color()) for line in fig.axes[0].get_lines()})
        return path
    monkeypatch.setattr(accuracy_vs_eps, "save", keep)
    semi = {"fig5/front end: semi-white box/0": curve(0.99), "fig5/front end: semi-white box/0.1": curve(0.7)}
    sections.figures(Run({**FIG5, **semi}, {}), tmp_path)
    assert drawn["front end: white box"] == to_hex("tab:purple")
    assert drawn["front end: semi-white box"] == to_hex(DEFENSES["frontend"].color)
    assert drawn["no defense: linear attack"] == to_hex(DEFENSES["none"].color)

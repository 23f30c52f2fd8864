"""The numbers README.md quotes are the committed results' numbers (results/summary.json).

Researchers quote the README, so a README that still quotes an earlier run is a wrong
result. Each check builds the phrase the README must contain from summary.json and looks
for it (line breaks and runs of spaces count as one space). After a regeneration, a failure
here names the phrase to update. Values are rounded half up, as a person would write them.

The README is for users (STYLE 18): the last tests keep it short, free of commit ids (the run
history goes to CHANGELOG.md) and printing the test command CI runs.
"""
import json
import re
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def readme():
    return " ".join((ROOT / "README.md").read_text(encoding="utf-8").split())


@pytest.fixture(scope="module")
def results():
    return json.loads((ROOT / "results" / "summary.json").read_text(encoding="utf-8"))


def fmt(value, digits):
    """``value`` rounded half up to ``digits`` decimals (1.25 -> 1.3, 5.85 -> 5.9)."""
    return str(Decimal(repr(float(value))).quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP))


def ours(results, key):
    """Our value of a summary entry ({"ours": ..., "paper": ...} or a bare value)."""
    if key not in results:
        pytest.fail(f"results/summary.json has no {key!r}; the README quotes the committed "
                    f"`python run_all.py --extended` run, whose results hold it")
    entry = results[key]
    return entry["ours"] if isinstance(entry, dict) else entry


def assert_quoted(readme, phrase):
    if phrase not in readme:
        words = phrase.split()     # show the README from the phrase's first words up to its first number
        lead = next((i for i, w in enumerate(words) if re.match(r"[(*]*\d", w)), len(words))
        near = readme.find(" ".join(words[:max(lead, 1)]))
        context = readme[near:near + len(phrase) + 20] if near >= 0 else "(its first words do not occur)"
        pytest.fail(f"README.md should say\n  {phrase}\nbut says\n  {context}")


def test_readme_quotes_the_headline_tables(readme, results):
    two = lambda k: fmt(ours(results, k), 2)            # noqa: E731
    paper = lambda k: fmt(results[k]["paper"], 2)       # noqa: E731
    rows = {"locally linear": "ll", "FGSM": "fgsm", "iterative FGSM (δ = ε/20, 80 its)": "ifgsm",
            "MI-FGSM": "mifgsm", "PGD": "pgd"}
    for label, key in rows.items():
        none, front = f"table1/{key}/none", f"table1/{key}/frontend"
        front_cell = two(front)
        if key == "ll":
            front_cell += f" (semi-white box: {two('table1/ll-semi-white/frontend')})"
        assert_quoted(readme, f"| {label} | {paper(none)} | {two(none)} | {paper(front)} | {front_cell} |")
    for label, d, extra in (("MNIST 3 vs 7: no defense / sparse net / front end", "mnist", ""),
                            ("Fashion-MNIST T-shirt vs Pullover: same", "fashion",
                             f"; white box {two('table2/fashion/frontend-white')}")):
        cells = [f"table2/{d}/{defense}" for defense in ("none", "sparse", "frontend")]
        means = " / ".join(two(f"{c}/mean") for c in cells)
        assert_quoted(readme, f"| {label} | {' / '.join(paper(c) for c in cells)} | "
                              f"{' / '.join(two(c) for c in cells)} ({means}{extra}) |")


def test_readme_quotes_the_clean_accuracies(readme, results):
    def cell(key):
        return f"{fmt(ours(results, key), 2)}% ({'paper ' if key == 'b2/cnn4/none' else ''}{results[key]['paper']:g})"
    assert_quoted(readme, f"Clean accuracy (Appendix B.2): cnn4 {cell('b2/cnn4/none')}, with the front end "
                          f"{cell('b2/cnn4/frontend')}; fc2 MNIST {cell('b2/fc2-mnist/none')}, with the front end "
                          f"{cell('b2/fc2-mnist/frontend')}; fc2 Fashion {cell('b2/fc2-fashion/none')}.")


def test_readme_quotes_the_adaptive_evaluation(readme, results):
    value = lambda k: ours(results, k)      # noqa: E731
    one = lambda k: fmt(value(k), 1)                                                       # noqa: E731
    a = "adaptive/cnn4/frontend"
    assert_quoted(readme, f"cnn4 keeps {one('table1/pgd/frontend')}% of the test set under PGD's final iterate "
                          f"(paper: {fmt(results['table1/pgd/frontend']['paper'], 1)}%)")
    lo, hi = value(f"{a}/worst_case/ci95")
    assert_quoted(readme, f"leaves **{one(a + '/worst_case')}% (95% CI {fmt(lo, 1)}–{fmt(hi, 1)})**")
    # "the best gradient attack ... (APGD-T)": APGD-T must be the strongest gradient attack alone.
    alone = {k: value(f"{a}/{k}") for k in ("apgd-ce/exact", "apgd-ce/straight-through", "apgd-ce/bpda",
                                             "apgd-dlr/exact", "apgd-t/exact")}
    assert min(alone, key=alone.get) == "apgd-t/exact", alone
    assert_quoted(readme, f"Square alone leaves {one(a + '/square')}% of the first 500 images where the best "
                          f"gradient attack leaves {one(a + '/apgd-t/exact')}% (APGD-T) and APGD-CE {one(a + '/apgd-ce')}%")
    m = "adaptive/fc2-mnist/frontend"
    gradient = min(value(f"{m}/{k}") for k in ("apgd-ce/exact", "apgd-ce/straight-through", "apgd-ce/bpda",
                                               "apgd-margin/exact"))
    assert_quoted(readme, f"{one(m + '/worst_case')}% worst case on MNIST 3-vs-7 (Square {one(m + '/square')}%, "
                          f"gradient attacks ≥ {int(gradient)}%; the paper's locally linear attack: "
                          f"{one('table2/mnist/frontend')}%), and {one('adaptive/fc2-fashion/frontend/worst_case')}% "
                          f"on Fashion-MNIST (paper: {fmt(results['table2/fashion/frontend']['paper'], 1)}%)")
    for d in ("mnist", "fashion"):      # "leaves exactly the locally linear attack's ..."
        assert value(f"adaptive/fc2-{d}/sparse/worst_case") == value(f"table2/{d}/sparse")
    assert_quoted(readme, f"leaves exactly the locally linear attack's {one('table2/mnist/sparse')}% (MNIST) and "
                          f"{one('table2/fashion/sparse')}% (Fashion-MNIST), the paper's Table 2 cells "
                          f"({fmt(results['table2/mnist/sparse']['paper'], 1)}, "
                          f"{fmt(results['table2/fashion/sparse']['paper'], 1)})")
    undefended = [value(f"adaptive/{n}/none/worst_case") for n in ("cnn4", "fc2-mnist", "fc2-fashion")]
    assert_quoted(readme, f"Without a defense every network falls to {fmt(min(undefended), 0)}–"
                          f"{fmt(max(undefended), 1)}%")


def test_readme_quotes_the_extended_studies(readme, results):
    one = lambda k: fmt(ours(results, k), 1)      # noqa: E731
    span = lambda k: f"{one(f'table1/{k}/min')}–{one(f'table1/{k}/max')}%"      # noqa: E731
    assert_quoted(readme, f"the front-end cnn4 keeps {span('pgd/frontend')} under PGD "
                          f"(paper {results['table1/pgd/frontend']['paper']:g}) and {span('fgsm/frontend')} under FGSM "
                          f"({results['table1/fgsm/frontend']['paper']:g}); undefended FGSM spreads from "
                          f"{one('table1/fgsm/none/min')}% to {one('table1/fgsm/none/max')}% "
                          f"(paper {results['table1/fgsm/none']['paper']:g})")
    # "Over rho = 1-10% and four bases ... every front end's worst case is at or far below its PGD
    # number: the best, Haar at rho = 3%, keeps ..., the global DCT ..."
    studies = [f"rho/{r}" for r in ("0.01", "0.02", "0.03", "0.05", "0.1")] + \
              [f"basis/{b}" for b in ("cdf97", "haar", "db4", "dct")]
    worst = {k: ours(results, f"{k}/worst_case") for k in studies}
    for k in studies:
        assert worst[k] <= ours(results, f"{k}/pgd"), k
    assert max(worst, key=worst.get) == "basis/haar", worst
    assert_quoted(readme, f"the best, Haar at ρ = 3%, keeps {one('basis/haar/worst_case')}% "
                          f"(PGD {one('basis/haar/pgd')}%), the global DCT {one('basis/dct/worst_case')}%")


def test_readme_quotes_the_exact_verification(readme, results):
    one = lambda k: fmt(ours(results, k), 1)      # noqa: E731
    cases = [(net, eps) for net in ("fc2-mnist", "fc2-fashion", "fc10-mnist") for eps in ("0.25", "0.1")]
    for net, eps in cases:      # "every example the attacks leave standing is robust", none unknown
        cell = f"verify/{net}/sparse/{eps}"
        assert ours(results, f"{cell}/exact") == ours(results, f"{cell}/worst_case"), cell
        assert ours(results, f"{cell}/unknown") == 0, cell
    missed = [int(ours(results, f"verify/{net}/none/{eps}/missed")) for net, eps in cases]
    some = [m for m in missed if m]
    assert all(ours(results, f"verify/{net}/none/{eps}/unknown") == 0 for net, eps in cases)
    assert_quoted(readme, f"proves the sparse fc2's {one('verify/fc2-mnist/sparse/0.25/exact')}% and "
                          f"{one('verify/fc2-fashion/sparse/0.25/exact')}%: every example the attacks leave "
                          f"standing is robust; without a defense they miss {min(some)}–{max(some)} broken "
                          f"examples of about 2,000 in {WORDS[len(some)]} of six cases.")


WORDS = {0: "none", 1: "one", 2: "two", 3: "three", 4: "four", 5: "five", 6: "six"}


def test_readme_quotes_the_combined_defense(readme, results):
    one = lambda k: fmt(ours(results, k), 1)      # noqa: E731
    c = "beyond/combined/{}/{}/worst_case/mean"
    for d in ("mnist", "fashion"):      # "under half the sparse network alone"
        assert ours(results, c.format(d, "combined")) < ours(results, c.format(d, "sparse")) / 2, d
    assert_quoted(readme, f"the front end on top of the sparse network keeps {one(c.format('mnist', 'combined'))}% "
                          f"(MNIST) and {one(c.format('fashion', 'combined'))}% (Fashion-MNIST), under half the "
                          f"sparse network alone")


def test_readme_counts_the_cells_far_from_the_paper(readme, results):
    far = [k for k, v in results.items() if k.split("/")[0] in ("table1", "table2", "b2") and isinstance(v, dict)
           and v.get("paper") is not None and abs(v["ours"] - v["paper"]) > 5]
    words = {3: "Three", 4: "Four", 5: "Five", 6: "Six"}
    assert_quoted(readme, f"{words.get(len(far), len(far))} cells are more than 5 points from the paper")


# -- the README is for users (STYLE 18): short, no lab log ------------------------------------
MAX_LINES = 180


def test_readme_is_at_most_180_lines():
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) <= MAX_LINES, (f"README.md has {len(lines)} lines (at most {MAX_LINES}); history goes to "
                                     f"CHANGELOG.md, measurements to benchmarks/README.md")


def test_readme_names_no_commit():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    ids = re.findall(r"\b[0-9a-f]{7,40}\b", text)
    assert not ids, f"README.md names commits {ids}: which run made which results goes to CHANGELOG.md"


def test_readme_prints_the_test_command():
    """CI runs the test command the README prints."""
    assert "python -m pytest -q" in (ROOT / "README.md").read_text(encoding="utf-8")

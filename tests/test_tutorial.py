"""The tutorial (docs/tutorial/) runs, its text agrees with its code, its notebooks agree with
its chapters, and its checkers work.

Each chapter runs in checking mode (figures to a temporary folder; nothing in the repository
changes): every ```output block must equal what its code prints now, and every number the
prose quotes in bold must be printed above it. Every chapter's notebook must be valid
nbformat 4 and carry the chapter's code blocks, in order, with the chapter's outputs. Every
exercise's reference solution must pass its checker, every deliberately wrong answer in
exercises/wrong/ must fail with the hint its docstring names, and a blank exercise must say
that it is not implemented yet.
"""
import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
TUTORIAL = ROOT / "docs" / "tutorial"


def _load(name):
    spec = importlib.util.spec_from_file_location(f"tutorial_{name}", TUTORIAL / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


run = _load("run")
check = _load("check")
CHAPTERS = run.chapters()


def _datasets(path):
    return ("mnist", "fashion-mnist") if "fashion" in path.read_text() else ("mnist",)


def test_chapters_are_numbered_from_one_without_gaps_and_indexed():
    numbers = [int(p.name[:2]) for p in CHAPTERS]
    assert len(numbers) >= 7 and numbers == list(range(1, len(numbers) + 1))    # a new chapter goes at the end
    index = (TUTORIAL / "README.md").read_text()
    for path in CHAPTERS:
        assert path.name in index, f"README.md does not link {path.name}"


@pytest.mark.parametrize("path", [pytest.param(p, marks=pytest.mark.real_data(*_datasets(p)), id=p.stem)
                                  for p in CHAPTERS])
def test_chapter_runs_and_agrees_with_its_text(path, tmp_path):
    before = path.read_text()
    run.run_chapter(path, check=True, figures_dir=tmp_path, log=lambda *a: None)
    assert path.read_text() == before
    shown = set(run.IMAGE.findall(before))
    for fig in shown:       # every figure the chapter shows was drawn again, and is committed
        assert (tmp_path / Path(fig).name).stat().st_size > 5_000
        assert (TUTORIAL / fig).exists(), f"{fig} is not in docs/tutorial/figures (run docs/tutorial/run.py)"


# -- the checking machinery itself, on tiny made-up chapters (no data needed) ---------------------
def _fake_chapter(tmp_path, prose_number, output_lines=("x = 1.25",)):
    text = "\n".join(["# Fake", "", "```python", "print('x = 1.25')", "```", "",
                      "```output", *output_lines, "```", "", f"The value is **{prose_number}**.", ""])
    path = tmp_path / "01-fake.md"
    path.write_text(text)
    return path


def test_run_accepts_a_chapter_whose_text_matches(tmp_path):
    run.run_chapter(_fake_chapter(tmp_path, "1.25"), check=True, figures_dir=tmp_path)


def test_run_fails_when_the_prose_quotes_a_number_nobody_printed(tmp_path):
    with pytest.raises(run.TutorialError, match=r"quotes \*\*1.3\*\* but no output"):
        run.run_chapter(_fake_chapter(tmp_path, "1.3"), check=True, figures_dir=tmp_path)
    with pytest.raises(run.TutorialError, match=r"quotes \*\*1.2\*\*"):       # not part of a longer number
        run.run_chapter(_fake_chapter(tmp_path, "1.2"), check=True, figures_dir=tmp_path)


def test_run_fails_when_an_output_block_is_stale_and_rewrites_it(tmp_path):
    path = _fake_chapter(tmp_path, "1.25", output_lines=("x = 9.99",))
    with pytest.raises(run.TutorialError, match="output block differs"):
        run.run_chapter(path, check=True, figures_dir=tmp_path)
    assert "x = 9.99" in path.read_text()                 # --check writes nothing
    run.run_chapter(path, check=False, figures_dir=tmp_path)
    assert "x = 1.25" in path.read_text() and "9.99" not in path.read_text()


def test_run_reports_the_block_that_raises(tmp_path):
    path = tmp_path / "01-broken.md"
    path.write_text("```python\nraise ValueError('boom')\n```\n")
    with pytest.raises(run.TutorialError, match="python block 1 raised"):
        run.run_chapter(path, check=True, figures_dir=tmp_path)


# -- notebooks -----------------------------------------------------------------------------------
# nbformat 4.5 (jupyter/nbformat, nbformat/v4/nbformat.v4.5.schema.json): the keys every
# notebook, cell and stream output must have, and the only ones they may have.
NOTEBOOK_KEYS = {"metadata", "nbformat", "nbformat_minor", "cells"}
CELL_KEYS = {"markdown": ({"id", "cell_type", "metadata", "source"}, {"attachments"}),
             "code": ({"id", "cell_type", "metadata", "source", "outputs", "execution_count"}, set()),
             "raw": ({"id", "cell_type", "metadata", "source"}, {"attachments"})}
STREAM_KEYS = {"output_type", "name", "text"}
CELL_ID = re.compile(r"^[a-zA-Z0-9-_]{1,64}$")


def _text(multiline):
    """nbformat's multi-line string: a string, or a list of strings joined with ''."""
    assert isinstance(multiline, (str, list)), multiline
    if isinstance(multiline, list):
        assert all(isinstance(s, str) for s in multiline)
        return "".join(multiline)
    return multiline


def _valid_notebook(nb):
    """Assert ``nb`` has nbformat 4.5's required structure; returns the chapter's code cells."""
    assert set(nb) == NOTEBOOK_KEYS
    assert nb["nbformat"] == 4 and isinstance(nb["nbformat_minor"], int) and nb["nbformat_minor"] >= 5
    assert isinstance(nb["metadata"], dict)
    kernel = nb["metadata"].get("kernelspec")
    assert kernel is None or {"name", "display_name"} <= set(kernel)
    assert "name" in nb["metadata"].get("language_info", {"name": ""})
    ids = [cell["id"] for cell in nb["cells"]]
    assert len(set(ids)) == len(ids) and all(CELL_ID.match(i) for i in ids)
    code = []
    for cell in nb["cells"]:
        required, optional = CELL_KEYS[cell["cell_type"]]
        assert required <= set(cell) <= required | optional, cell
        assert isinstance(cell["metadata"], dict)
        _text(cell["source"])
        if cell["cell_type"] == "code":
            assert cell["execution_count"] is None or (isinstance(cell["execution_count"], int)
                                                       and cell["execution_count"] >= 0)
            assert isinstance(cell["outputs"], list)
            for out in cell["outputs"]:
                assert set(out) == STREAM_KEYS and out["output_type"] == "stream" and out["name"] == "stdout"
                _text(out["text"])
            if "setup" not in cell["metadata"].get("tags", []):
                code.append(cell)
    return code


@pytest.mark.parametrize("path", CHAPTERS, ids=[p.stem for p in CHAPTERS])
def test_notebook_of_the_chapter_is_valid_and_current(path):
    notebook = run.notebook_path(path)
    assert notebook.exists(), f"{notebook.name} is missing: python docs/tutorial/run.py --notebooks"
    text = notebook.read_text()
    code = _valid_notebook(json.loads(text))
    segments = run.parse(path.read_text())
    blocks = [body for kind, body in segments if kind == "python"]
    outputs = []
    for i, (kind, body) in enumerate(segments):
        if kind == "python":
            following = [s for s in segments[i + 1:i + 3] if not (s[0] == "prose" and not "".join(s[1]).strip())]
            outputs.append(following[0][1] if following and following[0][0] == "output" else [])
    assert [_text(c["source"]) for c in code] == ["\n".join(b) for b in blocks]      # every block, in order
    assert [[ln for o in c["outputs"] for ln in _text(o["text"]).splitlines()] for c in code] == outputs
    assert [c["execution_count"] for c in code] == list(range(1, len(code) + 1))
    assert text == run.notebook_json(path), f"{notebook.name} is stale: python docs/tutorial/run.py --notebooks"


def test_notebook_of_a_made_up_chapter(tmp_path):
    path = tmp_path / "01-fake.md"
    path.write_text("# 1. Fake\n\nSee [chapter 2](02-other.md), [the report](../../REPORT.md) and\n"
                    "![a figure](figures/f.png).\n\n```python\nprint('a')\nprint('b')\n```\n\n```output\na\nb\n```\n\n"
                    "Text.\n\n```python\nx = 1\n```\n\n    python docs/tutorial/check.py fake my.py\n")
    nb = run.notebook(path.read_text(), path.stem)
    code = _valid_notebook(json.loads(json.dumps(nb)))
    assert [_text(c["source"]) for c in code] == ["print('a')\nprint('b')", "x = 1"]
    assert [_text(o["text"]) for o in code[0]["outputs"]] == ["a\nb\n"] and code[1]["outputs"] == []
    markdown = "".join(_text(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown")
    assert "(02-other.ipynb)" in markdown and "(../../../REPORT.md)" in markdown and "(../figures/f.png)" in markdown
    assert "    python docs/tutorial/check.py fake my.py" in markdown
    setup = nb["cells"][0]
    assert setup["cell_type"] == "code" and setup["metadata"]["tags"] == ["setup"] and setup["outputs"] == []


def test_run_notebooks_writes_without_running(tmp_path, monkeypatch):
    chapter = _fake_chapter(tmp_path, "1.25")
    monkeypatch.setattr(run, "NOTEBOOKS", tmp_path / "notebooks")
    assert run.stale_notebook(chapter) is not None                      # missing
    target = run.write_notebook(chapter)
    assert run.stale_notebook(chapter) is None and target.parent == tmp_path / "notebooks"
    chapter.write_text(chapter.read_text().replace("x = 1.25\n```", "x = 2\n```"))
    assert "is not what" in run.stale_notebook(chapter)


# -- the exercises ---------------------------------------------------------------------------
WRONG = sorted((TUTORIAL / "exercises" / "wrong").glob("*.py"))
BY_STEM = {stem: name for name, (_, _, _, stem) in check.EXERCISES.items()}


def _exercise_of(wrong):
    return BY_STEM[wrong.stem.split("__")[0]]


def _marks(name):
    return [pytest.mark.real_data("mnist")] if name in check.NEEDS_DATA else []


def test_every_chapter_has_an_exercise_that_it_explains():
    chapters = {chapter for _, _, chapter, _ in check.EXERCISES.values()}
    assert chapters == set(range(1, len(CHAPTERS) + 1))
    measured = [n for n, (_, _, _, stem) in check.EXERCISES.items()       # predict, vary a setting, measure
                if n == "halving_eps" or "PREDICTION" in (TUTORIAL / "exercises" / f"{stem}.py").read_text()]
    assert len(measured) >= 3
    for name, (_, _, chapter, stem) in check.EXERCISES.items():
        for folder in ("exercises", "solutions"):
            assert (TUTORIAL / folder / f"{stem}.py").exists()
        assert any(_exercise_of(w) == name for w in WRONG), f"no wrong answer for {name} in exercises/wrong/"
        text = CHAPTERS[chapter - 1].read_text()
        assert f"check.py {name} " in text, f"chapter {chapter} does not tell how to check {name}"
        assert f"exercises/{stem}.py" in text


@pytest.mark.parametrize("name", [pytest.param(n, marks=_marks(n)) for n in sorted(check.EXERCISES)])
def test_reference_solution_passes(name):
    ok, message = check.check(name, TUTORIAL / "solutions" / f"{check.EXERCISES[name][3]}.py")
    assert ok, message
    assert message.startswith("PASS")


@pytest.mark.parametrize("wrong", [pytest.param(w, marks=_marks(_exercise_of(w)), id=w.stem) for w in WRONG])
def test_wrong_answer_fails_with_its_hint(wrong):
    says = re.search(r"^Checker says: (.+)$", wrong.read_text(), re.M)
    assert says, f"{wrong.name}: its docstring must name the hint (a line 'Checker says: ...')"
    ok, message = check.check(_exercise_of(wrong), wrong)
    assert not ok
    assert says.group(1) in message, message
    assert "expected" in message and "got" in message and "on input #" in message


def test_the_common_mistakes_have_wrong_answers():
    """The mistakes students make most, each with a wrong answer that the checker must catch."""
    names = {w.stem.split("__")[1] for w in WRONG}
    for mistake in ("zero_weights_move", "nan_without_clean_correct", "ties_keep_all", "ties_higher_index",
                    "switches_without_bias", "clipped_at_one_side", "layer_off_by_one", "mean_instead_of_max",
                    "adversarial_accuracy", "wrong_sign", "missing_bound", "l_and_u_swapped", "a_means_off"):
        assert mistake in names, mistake


@pytest.mark.parametrize("name", [pytest.param(n, marks=_marks(n)) for n in sorted(check.EXERCISES)])
def test_the_blank_exercise_says_not_implemented(name):
    ok, message = check.check(name, TUTORIAL / "exercises" / f"{check.EXERCISES[name][3]}.py")
    assert not ok and "not implemented yet" in message


def test_the_tie_rule_of_the_top_k_exercise_is_the_front_ends():
    """H_K keeps the K largest |c| and, among equal magnitudes, the lower index first: the
    checker's reference and the library's front end agree on images with ties at the K-th place."""
    from sparsenet import frontend
    rng = np.random.default_rng(0)
    blocks = rng.integers(0, 3, (3, 14, 14)) / 2.0
    x = np.concatenate([np.full((1, 28, 28), 0.5), np.kron(blocks, np.ones((2, 2)))])   # repeated 2 x 2 blocks
    front = frontend.Sparsifier("haar", rho=0.03)
    c = front.coefficients(x)
    assert all(check.tie_at_k(c[i:i + 1], front.K) for i in range(len(c)))
    np.testing.assert_array_equal(front.support(x), check.top_k_reference(c, front.K) > 0)


def test_checker_exit_status_and_shape_message(tmp_path):
    cmd = [sys.executable, str(TUTORIAL / "check.py"), "fgsm_linear"]
    good = subprocess.run(cmd + [str(TUTORIAL / "solutions" / "ex1_fgsm_linear.py")], capture_output=True, text=True)
    assert good.returncode == 0, good.stdout + good.stderr
    bad = subprocess.run(cmd + [str(TUTORIAL / "exercises" / "wrong" / "ex1_fgsm_linear__same_sign_for_every_label.py")],
                         capture_output=True, text=True)
    assert bad.returncode == 1 and "wrong sign" in bad.stdout
    transposed = tmp_path / "transposed.py"
    transposed.write_text("import numpy as np\n"
                          "def fgsm_linear(x, w, b, y, eps):\n"
                          "    return np.clip(x + eps * np.where(y == 1, -1, 1)[:, None] * np.sign(w), 0, 1).T\n")
    ok, message = check.check("fgsm_linear", transposed)
    assert not ok and "shape (" in message and "expected, got (784," in message


def test_predictions_are_checked_within_their_tolerance(tmp_path):
    """A prediction just inside the stated tolerance passes that step; just outside, it fails."""
    solution = (TUTORIAL / "solutions" / "ex2_attenuation.py").read_text()
    truth = 78 / 784
    for offset, passes in ((0.009, True), (0.011, False)):
        path = tmp_path / f"attenuation_{passes}.py"
        path.write_text(solution.replace("PREDICTION = 78 / 784", f"PREDICTION = {truth + offset!r}"))
        ok, message = check.check("attenuation", path)
        assert ok == passes, message

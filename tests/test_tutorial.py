"""The tutorial (docs/tutorial/) runs, its text agrees with its code, and its checkers work.

Each chapter runs in checking mode (figures to a temporary folder; nothing in the repository
changes): every ```output block must equal what its code prints now, and every number the
prose quotes in bold must be printed above it. Every exercise's reference solution must pass
its checker, and the deliberately wrong answer must fail with the useful message.
"""
import importlib.util
import subprocess
import sys
from pathlib import Path

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


def test_there_are_seven_chapters_and_an_index():
    assert [p.name[:2] for p in CHAPTERS] == [f"{i:02d}" for i in range(1, 8)]
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


# -- the exercises ---------------------------------------------------------------------------
FILES = {"fgsm_linear": "ex1_fgsm_linear", "top_k": "ex2_top_k", "w_eq_fc2": "ex3_w_eq_fc2",
         "pair_candidates": "ex4_pair_candidates", "robust_and_success": "ex5_robust_and_success",
         "dlr_loss": "ex6_dlr_loss", "theorem2_bounds": "ex7_theorem2_bounds"}
WRONG_MESSAGES = {
    "fgsm_linear": "wrong sign for the examples of label 1",
    "top_k": "keep the K largest in MAGNITUDE",
    "w_eq_fc2": "w_eq ignores the switches",
    "pair_candidates": "wrong sign",
    "robust_and_success": "denominator",
    "dlr_loss": "wrong scale",
    "theorem2_bounds": "you summed rows",
}


def test_every_chapter_has_an_exercise_with_a_checker():
    assert set(FILES) == set(check.EXERCISES)
    assert sorted(chapter for _, _, chapter in check.EXERCISES.values()) == list(range(1, 8))
    for name, stem in FILES.items():
        for folder in ("exercises", "solutions", "exercises/wrong"):
            assert (TUTORIAL / folder / f"{stem}.py").exists()
        chapter = CHAPTERS[check.EXERCISES[name][2] - 1].read_text()
        assert f"check.py {name} " in chapter, f"chapter does not tell how to check {name}"


@pytest.mark.parametrize("name", sorted(FILES))
def test_reference_solution_passes(name):
    ok, message = check.check(name, TUTORIAL / "solutions" / f"{FILES[name]}.py")
    assert ok, message
    assert message.startswith("PASS")


@pytest.mark.parametrize("name", sorted(FILES))
def test_wrong_answer_fails_with_a_useful_message(name):
    ok, message = check.check(name, TUTORIAL / "exercises" / "wrong" / f"{FILES[name]}.py")
    assert not ok
    assert WRONG_MESSAGES[name] in message
    assert "expected" in message and "got" in message and "input #" in message


@pytest.mark.parametrize("name", sorted(FILES))
def test_the_blank_exercise_says_not_implemented(name):
    ok, message = check.check(name, TUTORIAL / "exercises" / f"{FILES[name]}.py")
    assert not ok and "not implemented yet" in message


def test_checker_exit_status_and_shape_message(tmp_path):
    cmd = [sys.executable, str(TUTORIAL / "check.py"), "fgsm_linear"]
    good = subprocess.run(cmd + [str(TUTORIAL / "solutions" / "ex1_fgsm_linear.py")], capture_output=True, text=True)
    assert good.returncode == 0, good.stdout + good.stderr
    bad = subprocess.run(cmd + [str(TUTORIAL / "exercises" / "wrong" / "ex1_fgsm_linear.py")],
                         capture_output=True, text=True)
    assert bad.returncode == 1 and "wrong sign" in bad.stdout
    transposed = tmp_path / "transposed.py"
    transposed.write_text("import numpy as np\n"
                          "def fgsm_linear(x, w, b, y, eps):\n"
                          "    return np.clip(x + eps * np.where(y == 1, -1, 1)[:, None] * np.sign(w), 0, 1).T\n")
    ok, message = check.check("fgsm_linear", transposed)
    assert not ok and "shape (" in message and "expected, got (784," in message

"""run_all.py's command line: usage errors, an unusable --out refused before any work, the
first log line naming the data folders, and one-line errors (no traceback) for data problems."""
import gzip
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sparsenet import data
from sparsenet.repro import reproduce

ROOT = Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location("run_all", ROOT / "run_all.py")
run_all = importlib.util.module_from_spec(spec)
spec.loader.exec_module(run_all)


@pytest.fixture
def no_work(monkeypatch):
    """Any attempt to plan or run an experiment fails the test."""
    def refuse(*a, **k):
        raise AssertionError("run_all started work it should not have started")

    monkeypatch.setattr(run_all, "reproduce", refuse)


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    monkeypatch.delenv(data.ENV_VAR, raising=False)
    monkeypatch.setattr(data, "REPO_DATA_DIR", tmp_path / "repo-data")
    return tmp_path


@pytest.mark.parametrize("seed,says", [("-1", "must be an integer >= 0, got -1"), ("1.5", "got '1.5'"),
                                       ("seven", "got 'seven'")])
def test_a_bad_seed_is_a_usage_error(seed, says, capsys, no_work):
    with pytest.raises(SystemExit) as exit_:
        run_all.cli(["--seed", seed])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "usage:" in err and "--seed" in err and says in err


def test_a_data_dir_that_is_not_a_folder_is_a_usage_error(tmp_path, capsys, no_work):
    with pytest.raises(SystemExit) as exit_:
        run_all.cli(["--data-dir", str(tmp_path / "nowhere")])
    assert exit_.value.code == 2 and "--data-dir" in capsys.readouterr().err


def test_an_out_that_is_a_file_is_refused_before_any_work(tmp_path, capsys, no_work):
    target = tmp_path / "results.txt"
    target.write_text("keep me")
    assert run_all.cli(["--out", str(target), "--quick"]) == 2
    err = capsys.readouterr().err
    assert f"--out {target} is a file, not a folder" in err and "Traceback" not in err
    assert target.read_text() == "keep me"


def test_an_out_that_cannot_be_created_is_refused_before_any_work(tmp_path, capsys, no_work):
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert run_all.cli(["--out", str(blocker / "sub"), "--quick"]) == 2
    assert f"--out {blocker / 'sub'} is not a writable folder" in capsys.readouterr().err


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root may write to a read-only folder")
def test_a_read_only_out_is_refused_before_any_work(tmp_path, capsys, no_work):
    out = tmp_path / "ro"
    out.mkdir()
    out.chmod(0o555)
    try:
        assert run_all.cli(["--out", str(out)]) == 2
    finally:
        out.chmod(0o755)
    assert "is not a writable folder" in capsys.readouterr().err


def test_the_first_log_line_names_the_data_folders(isolated, monkeypatch, capsys):
    mnist = isolated / "given" / "mnist"
    mnist.mkdir(parents=True)
    for stem in data.FILES["train"] + data.FILES["test"]:
        (mnist / f"{stem}.gz").write_bytes(b"")

    def stop(*a, **k):               # the first piece of work after the first line
        raise KeyboardInterrupt

    monkeypatch.setattr(reproduce, "Runner", stop)
    assert run_all.cli(["--data-dir", str(isolated / "given"), "--out", str(isolated / "out")]) == 130
    lines = capsys.readouterr().err.splitlines()
    assert lines[0].startswith(f"data: mnist from {mnist} (--data-dir); fashion-mnist not found; "
                               f"it will be downloaded into {isolated / 'repo-data' / 'fashion-mnist'}")
    assert lines[0].endswith(f"Output: {isolated / 'out'}")
    assert "run the same command again to resume" in lines[-1]


def test_missing_data_under_run_all_names_the_data_dir_flag(isolated, capsys):
    empty = isolated / "empty"
    empty.mkdir()
    code = run_all.cli(["--data-dir", str(empty), "--out", str(isolated / "out"), "--quick", "--only", "b2"])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    message = err[err.index("error: "):]
    assert "not found" in message and "pass --data-dir DIR" in message and "data_dir=" not in message


def test_the_library_message_keeps_the_argument_name(isolated):
    with pytest.raises(data.DataNotFoundError, match=r"pass data_dir=\.\.\.") as err:
        data.load_dataset("mnist", "test", download=False)
    assert "pass --data-dir DIR" in data.command_line_message(err.value)


def test_a_corrupt_dataset_file_is_one_error_line_and_exit_2(isolated, capsys):
    folder = isolated / "d" / "mnist"
    folder.mkdir(parents=True)
    for stem in data.FILES["train"] + data.FILES["test"]:
        (folder / f"{stem}.gz").write_bytes(gzip.compress(b"\0\0\x08\x03 not an idx file"))
    code = run_all.cli(["--data-dir", str(isolated / "d"), "--out", str(isolated / "out"), "--quick",
                        "--only", "b2"])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    line = err[err.index("error: "):]
    assert line.count("\n") == 1 and "train-images-idx3-ubyte.gz: truncated" in line
    assert f"i.e. {16 + 544108404 * 543256096 * 1768192032} bytes" in line   # no int64 overflow


def test_the_script_exits_2_without_a_traceback(tmp_path):
    """As a program: a data error raised deep inside a run is one error line and exit 2."""
    folder = tmp_path / "d" / "mnist"
    folder.mkdir(parents=True)
    for stem in data.FILES["train"] + data.FILES["test"]:
        (folder / f"{stem}.gz").write_bytes(b"not gzip")
    proc = subprocess.run([sys.executable, str(ROOT / "run_all.py"), "--data-dir", str(tmp_path / "d"), "--quick",
                           "--only", "b2", "--out", str(tmp_path / "out")],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2
    assert "not a valid gzip file" in proc.stderr.splitlines()[-1] and "Traceback" not in proc.stderr


def test_section_files_leave_the_per_example_arrays_in_the_cache(tmp_path):
    """A section's results file keeps each result's numbers; the per-example arrays (one entry
    per test image) stay in the cache, where the cells are read from."""
    from sparsenet.repro.sections import Run
    from sparsenet.repro.specs import TrainSpec, attack_spec
    result = {"robust_accuracy": 0.5, "clean_accuracy": 0.9, "n": 4, "wall_seconds": 1.0,
              "correct": [True, False, True, False], "clean": [True] * 4, "broken_by": ["pgd", "", "", "square"]}
    spec = attack_spec(TrainSpec("fc2", "mnist", binary=True), "fgsm", 0.1)
    run = Run({"table2/mnist/none": result}, {}, jobs={"table2": [("table2/mnist/none", spec)]})
    reproduce.write_sections(run, tmp_path)
    written = json.loads((tmp_path / "table2.json").read_text())
    assert written == {"table2/mnist/none": {"robust_accuracy": 0.5, "clean_accuracy": 0.9, "n": 4,
                                             "wall_seconds": 1.0}}
    assert "correct" in result and "broken_by" in result     # the cached result itself is untouched


def test_only_a_full_run_writes_the_full_results_and_report(tmp_path):
    """A quick run, or a run of some sections, must never replace results/summary.json and
    REPORT.md with a subset of their cells."""
    full = reproduce.output_folders(tmp_path)
    assert full == (tmp_path / "results", tmp_path / "figures", tmp_path / "REPORT.md")
    for quick, only, subset in ((True, None, "quick"), (False, ["table1"], "partial"), (True, ["b2"], "quick")):
        results, figures, report = reproduce.output_folders(tmp_path, quick, only)
        assert results == tmp_path / "results" / subset and figures == tmp_path / "figures" / subset
        assert report == results / "REPORT.md"


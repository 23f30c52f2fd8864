"""conftest's real-data report: a missing dataset is announced at the top of the session and
skips its tests, unless SPARSENET_REQUIRE_DATA=1 (CI), which makes them fail."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sparsenet import data

ROOT = Path(__file__).resolve().parent.parent
ONE_REAL_TEST = "tests/test_data.py::test_mnist_3_vs_7_test_subset_has_2038_images"


def run_pytest(tmp_path, **env):
    full = {k: v for k, v in os.environ.items() if k != "SPARSENET_REQUIRE_DATA"}
    full.update(SPARSENET_DATA=str(tmp_path), **env)
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", ONE_REAL_TEST],
                          cwd=ROOT, env=full, capture_output=True, text=True, timeout=300)


pytestmark = pytest.mark.skipif((data.REPO_DATA_DIR / "mnist").exists(),
                                reason="the repository's data/mnist would be found")


def test_a_missing_dataset_is_announced_first_and_skips_its_tests(tmp_path):
    proc = run_pytest(tmp_path)
    assert proc.returncode == 0, proc.stdout
    first = proc.stdout.splitlines()[0]
    assert first.startswith("real data: 1 of 1 real-data tests will be SKIPPED: mnist not found")
    assert "SKIPPED [1]" in proc.stdout and "real mnist IDX files not found" in proc.stdout


def test_in_ci_mode_a_missing_dataset_fails_the_run(tmp_path):
    proc = run_pytest(tmp_path, SPARSENET_REQUIRE_DATA="1")
    assert proc.returncode != 0
    assert "real-data tests will FAIL (SPARSENET_REQUIRE_DATA is set)" in proc.stdout
    assert "1 error" in proc.stdout and "SPARSENET_REQUIRE_DATA is set, so this is a failure" in proc.stdout

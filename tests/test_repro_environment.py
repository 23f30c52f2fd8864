"""The environment a run used is recorded beside its results: summary.json's
``environment`` cell and REPORT.md's header (float32 results depend on the BLAS kernel)."""
import importlib.metadata
import json
import os

from sparsenet.repro import environment, report
from sparsenet.repro.sections import Run
from sparsenet.repro.settings import Settings


def test_the_environment_names_versions_blas_kernel_cpu_and_cores():
    env = environment.describe()
    assert env["numpy"] == importlib.metadata.version("numpy")
    assert env["pywavelets"] == importlib.metadata.version("PyWavelets")     # not pywt.__version__
    assert env["cores"] == os.cpu_count() and env["cpu"] and env["python"].count(".") == 2
    assert env["blas_kernel"] and env["blas"]
    assert json.loads(json.dumps(env)) == env


def test_summary_and_report_carry_the_environment(monkeypatch):
    monkeypatch.setenv("OPENBLAS_CORETYPE", "Haswell")
    env = environment.describe()
    assert env["blas_variables"] == {"OPENBLAS_CORETYPE": "Haswell"}
    summ = report.summary({}, Run({}, {}), env=env)
    assert summ["environment"] == {"paper": None, "ours": env}
    text = report.markdown(summ, {"seed": 0}, {"wall_seconds": 6.0, "peak_mb": 100, "compute_seconds": 600.0}, [],
                           report.Context(Settings()))
    header = text.split("\n## ")[0]
    assert f"numpy {env['numpy']}" in header and "OPENBLAS_CORETYPE=Haswell" in header
    assert f"{env['cores']} cores" in header and env["blas_kernel"] in header
    assert "10.0 minutes" in header and "0.1 minutes" not in header     # cold-cache compute, never the re-run

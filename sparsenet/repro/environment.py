"""The software and machine a run used, recorded beside its results.

Float32 training is not bit-identical across machines: OpenBLAS picks its kernels by CPU
type (``OPENBLAS_CORETYPE`` overrides the choice), a different kernel sums a product in
another order, and training amplifies the last-bit differences. So every summary records
the versions, the BLAS and its kernel, and the CPU it came from.
"""
from __future__ import annotations

import importlib.metadata
import os
import platform

import numpy as np

from ..parallel import blas_kernel

BLAS_VARIABLES = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")


def _blas():
    try:
        deps = np.show_config(mode="dicts").get("Build Dependencies", {})
    except (TypeError, ValueError):        # numpy < 1.26 has no mode="dicts"
        return "unknown"
    blas = deps.get("blas", {})
    return f"{blas.get('name', 'unknown')} {blas.get('version', '')}".strip()


def _cpu():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _version(distribution):
    """The installed version as pip knows it (PyWavelets 1.9.0 reports 1.8.0 in ``pywt.__version__``)."""
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def describe():
    """A JSON-ready dict: Python and package versions, BLAS, its kernel, CPU and cores."""
    return {"python": platform.python_version(), "numpy": _version("numpy"), "scipy": _version("scipy"),
            "pywavelets": _version("PyWavelets"), "matplotlib": _version("matplotlib"),
            "blas": _blas(), "blas_kernel": blas_kernel() or "unknown",
            "blas_variables": {k: os.environ[k] for k in BLAS_VARIABLES if k in os.environ},
            "cpu": _cpu(), "cores": os.cpu_count(), "platform": platform.platform()}


def markdown_line(env):
    """One sentence for a report's header."""
    variables = ", ".join(f"{k}={v}" for k, v in env.get("blas_variables", {}).items()) or "none set"
    return (f"Environment: Python {env['python']}, numpy {env['numpy']}, scipy {env['scipy']}, "
            f"PyWavelets {env['pywavelets']}, matplotlib {env['matplotlib']}; {env['blas']} with the "
            f"{env['blas_kernel']} kernel (BLAS variables: {variables}); {env['cpu']}, {env['cores']} cores.")

"""Shared fixtures, and the report on real-data tests.

* No test ever touches the network: ``sparsenet.data._fetch`` is replaced for every test by a
  function that fails (a test that wants a fake download monkeypatches it again).
* ``mnist_dir`` / ``fashion_mnist_dir``: the folder of the real dataset, found through
  ``SPARSENET_DATA`` or the repository's ``data/`` folder; the test is skipped when absent --
  or fails, when ``SPARSENET_REQUIRE_DATA=1`` (CI: a real-data test must never skip silently).
* A test that needs a real dataset without those fixtures says so with
  ``@pytest.mark.real_data("mnist")``.
* One line at the top of the session says how many real-data tests will run, and how many
  will be skipped and why.
"""
import os

import pytest

from sparsenet import data

REQUIRE_ENV = "SPARSENET_REQUIRE_DATA"
FIXTURES = {"mnist_dir": "mnist", "fashion_mnist_dir": "fashion-mnist"}


def pytest_configure(config):
    config.addinivalue_line("markers", "real_data(name, ...): needs the real dataset(s) (see conftest.py)")


def _required():
    return os.environ.get(REQUIRE_ENV, "") not in ("", "0")


def _missing_reason(name):
    return (f"real {name} IDX files not found: set SPARSENET_DATA or put them in data/{name}/"
            + (f" ({REQUIRE_ENV} is set, so this is a failure)" if _required() else ""))


def _found(name):
    try:
        return data.find_data_dir(name)
    except data.DataNotFoundError:
        return None


def needed_datasets(item):
    names = {FIXTURES[f] for f in getattr(item, "fixturenames", ()) if f in FIXTURES}
    for marker in item.iter_markers("real_data"):
        names.update(marker.args)
    return names


@pytest.hookimpl(trylast=True)        # after -k / -m deselection: count only what will run
def pytest_collection_modifyitems(config, items):
    found = {name: _found(name) for name in data.DATASETS}
    real = [item for item in items if needed_datasets(item)]
    missing = sorted(name for name in data.DATASETS if found[name] is None)
    blocked = [item for item in real if needed_datasets(item) & set(missing)]
    for item in blocked:
        if not _required():
            names = sorted(needed_datasets(item) & set(missing))
            item.add_marker(pytest.mark.skip(reason=_missing_reason(names[0])))
    if not real:
        line = "real data: no test of this selection needs the real datasets"
    elif not blocked:
        line = (f"real data: all {len(real)} real-data tests will run ("
                + ", ".join(f"{name} in {found[name]}" for name in data.DATASETS if found[name]) + ")")
    else:
        verb = f"will FAIL ({REQUIRE_ENV} is set)" if _required() else "will be SKIPPED"
        absent = sorted(set(missing) & set().union(*(needed_datasets(item) for item in blocked)))
        line = (f"real data: {len(blocked)} of {len(real)} real-data tests {verb}: "
                f"{' and '.join(absent)} not found (set SPARSENET_DATA or put the files in data/<name>/)")
    config._sparsenet_real_data_line = line


def pytest_collection_finish(session):
    line = getattr(session.config, "_sparsenet_real_data_line", None)
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if line and reporter is not None:
        reporter.write_line(line, yellow="SKIPPED" in line or "FAIL" in line, bold=True)


@pytest.fixture(autouse=True)
def _no_network(monkeypatch):
    def refuse(url, timeout=None):
        raise OSError(f"tests never use the network (tried to fetch {url})")

    monkeypatch.setattr(data, "_fetch", refuse)


def _real_data_dir(name):
    folder = _found(name)
    if folder is None:
        (pytest.fail if _required() else pytest.skip)(_missing_reason(name))
    return folder


@pytest.fixture(scope="session")
def mnist_dir():
    return _real_data_dir("mnist")


@pytest.fixture(scope="session")
def fashion_mnist_dir():
    return _real_data_dir("fashion-mnist")


@pytest.fixture(autouse=True)
def _real_data_marker(request):
    """A test marked ``real_data`` gets the same skip (or failure) as the fixtures give."""
    for marker in request.node.iter_markers("real_data"):
        for name in marker.args:
            _real_data_dir(name)

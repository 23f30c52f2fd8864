"""Shared fixtures.

* No test ever touches the network: ``sparsenet.data._fetch`` is replaced for every test by a
  function that fails (a test that wants a fake download monkeypatches it again).
* ``mnist_dir`` / ``fashion_mnist_dir``: the folder of the real dataset, found through
  ``SPARSENET_DATA`` or the repository's ``data/`` folder; the test is skipped when absent.
"""
import pytest

from sparsenet import data


@pytest.fixture(autouse=True)
def _no_network(monkeypatch):
    def refuse(url, timeout=None):
        raise OSError(f"tests never use the network (tried to fetch {url})")

    monkeypatch.setattr(data, "_fetch", refuse)


def _real_data_dir(name):
    try:
        return data.find_data_dir(name)
    except data.DataNotFoundError:
        pytest.skip(f"real {name} IDX files not found: set SPARSENET_DATA or put them in data/{name}/")


@pytest.fixture(scope="session")
def mnist_dir():
    return _real_data_dir("mnist")


@pytest.fixture(scope="session")
def fashion_mnist_dir():
    return _real_data_dir("fashion-mnist")

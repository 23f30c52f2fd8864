"""sparsenet.checkpoints: a saved network loads back bit for bit, and every damaged, foreign
or malformed checkpoint is a CheckpointError that names the file."""
import json

import numpy as np
import pytest

from sparsenet.checkpoints import FORMAT, CheckpointError, load_checkpoint, save_checkpoint
from sparsenet.layers import Dense, Flatten
from sparsenet.models import Sequential, build, cnn4, fc2


def test_checkpoint_round_trip(tmp_path):
    net = cnn4(seed=1)
    path = tmp_path / "net.npz"
    save_checkpoint(path, net, {"dataset": "mnist", "rho": 0.03})
    loaded, meta = load_checkpoint(path, arch="cnn4")
    assert meta == {"dataset": "mnist", "rho": 0.03}
    x = np.random.default_rng(0).random((3, 28, 28), dtype=np.float32)
    np.testing.assert_array_equal(loaded.forward(x), net.forward(x))
    assert [p.name for p in tmp_path.iterdir()] == ["net.npz"]  # no temporary left behind


def test_checkpoint_of_another_architecture_is_refused(tmp_path):
    path = tmp_path / "fc2.npz"
    save_checkpoint(path, fc2())
    with pytest.raises(CheckpointError, match="'fc2' network, not 'cnn4'"):
        load_checkpoint(path, arch="cnn4")
    with pytest.raises(ValueError, match="do not match"):
        cnn4().load_state_dict(load_checkpoint(path)[0].state_dict())
    with pytest.raises(ValueError, match="parameter 1.W: has shape"):
        fc2(hidden=20).load_state_dict(fc2().state_dict())


def test_corrupt_or_missing_checkpoint(tmp_path):
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip file")
    with pytest.raises(CheckpointError, match="bad.npz"):
        load_checkpoint(bad)
    with pytest.raises(CheckpointError, match="no checkpoint"):
        load_checkpoint(tmp_path / "missing.npz")


HEADER = {"arch": "fc2", "config": {"seed": 0, "hidden": 10}, "dtype": "float32"}


def checkpoint_arrays(header=HEADER, meta="{}", drop=()):
    arrays = {"__arch__": np.array(header if isinstance(header, str) else json.dumps(header)),
              "__meta__": np.array(meta), **{f"param/{k}": v for k, v in fc2().state_dict().items()}}
    return {k: v for k, v in arrays.items() if k not in drop}


def _truncated(path):
    save_checkpoint(path, fc2())
    path.write_bytes(path.read_bytes()[:-200])


def _flipped(path):
    save_checkpoint(path, fc2())
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0xFF          # inside a weight array: the zip CRC no longer matches
    path.write_bytes(bytes(raw))


CORRUPT_CHECKPOINTS = {
    "empty": (lambda p: p.write_bytes(b""), "the file is empty"),
    "not-a-zip": (lambda p: p.write_bytes(b"\x80\x04junk that pickle would try"), "not an .npz archive"),
    "truncated-zip": (_truncated, "truncated or damaged archive"),
    "flipped-byte": (_flipped, "truncated or damaged archive"),
    "object-array": (lambda p: np.savez(p, **checkpoint_arrays(), x=np.array([{}], dtype=object)),
                     "an array holds Python objects"),
    "no-header": (lambda p: np.savez(p, **checkpoint_arrays(drop=("__arch__",))), "header (__arch__) is missing"),
    "no-metadata": (lambda p: np.savez(p, **checkpoint_arrays(drop=("__meta__",))), "metadata (__meta__) is missing"),
    "header-not-json": (lambda p: np.savez(p, **checkpoint_arrays(header="{arch: fc2")), "is not valid JSON"),
    "header-is-array": (lambda p: np.savez(p, **checkpoint_arrays(header=["fc2"])), "is an array in JSON"),
    "metadata-is-number": (lambda p: np.savez(p, **checkpoint_arrays(meta="3")), "is a number in JSON"),
    "header-not-string": (lambda p: np.savez(p, **{**checkpoint_arrays(), "__arch__": np.zeros(2)}), "not a string"),
    "header-lacks-config": (lambda p: np.savez(p, **checkpoint_arrays({"arch": "fc2", "dtype": "float32"})),
                            "lacks 'config'"),
    "unknown-arch": (lambda p: np.savez(p, **checkpoint_arrays({**HEADER, "arch": "resnet50"})),
                     "unknown architecture 'resnet50'"),
    "config-not-object": (lambda p: np.savez(p, **checkpoint_arrays({**HEADER, "config": [1]})), "not an object"),
    "bad-config": (lambda p: np.savez(p, **checkpoint_arrays({**HEADER, "config": {"depth": 3}})),
                   "does not build a fc2"),
    "bad-dtype": (lambda p: np.savez(p, **checkpoint_arrays({**HEADER, "dtype": "float99"})), "unknown dtype"),
    "int-dtype": (lambda p: np.savez(p, **checkpoint_arrays({**HEADER, "dtype": "int64"})), "not a floating-point"),
    "missing-weight": (lambda p: np.savez(p, **checkpoint_arrays(drop=("param/3.b",))), "do not match"),
    "wrong-shape": (lambda p: np.savez(p, **{**checkpoint_arrays(), "param/3.b": np.zeros(5)}), "shape"),
    "text-weight": (lambda p: np.savez(p, **{**checkpoint_arrays(), "param/3.b": np.array(["a"])}),
                    "not real floating-point numbers"),
}


@pytest.mark.parametrize("case", sorted(CORRUPT_CHECKPOINTS))
def test_every_corrupt_checkpoint_is_a_checkpoint_error_naming_the_file(tmp_path, case):
    make, reason = CORRUPT_CHECKPOINTS[case]
    path = tmp_path / "net.npz"
    make(path)
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(path)
    message = str(err.value)
    assert str(path) in message and reason in message, message
    assert "pickle" not in message.lower(), message            # never advice to unpickle
    assert err.value.reason in message and str(path) not in err.value.reason


def test_checkpoint_keeps_a_float64_network_float64(tmp_path):
    net = fc2(seed=2, dtype=np.float64)
    save_checkpoint(tmp_path / "n.npz", net)
    loaded, meta = load_checkpoint(tmp_path / "n.npz")
    assert loaded.dtype == np.float64 and meta == {}
    np.testing.assert_array_equal(loaded.parameters()[0], net.parameters()[0])


# -- the format version ------------------------------------------------------------------------
def save_format_1(path, net, metadata=None):
    """A checkpoint exactly as the first format wrote it: a header without a format key."""
    header = {"arch": net.arch, "config": net.config, "dtype": net.dtype.name}
    np.savez(path, __arch__=np.array(json.dumps(header)), __meta__=np.array(json.dumps(metadata or {})),
             **{f"param/{k}": v for k, v in net.state_dict().items()})


def test_a_checkpoint_says_its_format(tmp_path):
    save_checkpoint(tmp_path / "n.npz", fc2())
    with np.load(tmp_path / "n.npz") as f:
        header = json.loads(str(f["__arch__"]))
    assert header == {"format": FORMAT, "arch": "fc2", "config": {"seed": 0, "hidden": 10}, "dtype": "float32"}
    assert FORMAT == 2


@pytest.mark.parametrize("arch", ["fc2", "cnn4"])
def test_a_format_1_checkpoint_still_loads(tmp_path, arch):
    net = build(arch, seed=3)
    save_format_1(tmp_path / "old.npz", net, {"dataset": "mnist"})
    loaded, meta = load_checkpoint(tmp_path / "old.npz", arch=arch)
    assert meta == {"dataset": "mnist"}
    x = np.random.default_rng(0).random((3, 28, 28), dtype=np.float32)
    np.testing.assert_array_equal(loaded.forward(x), net.forward(x))


# -- what is refused when saving, and what saves -------------------------------------------------
def test_numpy_numbers_in_the_config_or_the_metadata_save(tmp_path):
    net = fc2(seed=np.int64(3), hidden=np.int32(12))
    path = tmp_path / "n.npz"
    save_checkpoint(path, net, {"rho": np.float32(0.5), "n": np.int64(5), "ok": np.bool_(True),
                                "sizes": np.arange(3), "where": tmp_path})
    loaded, meta = load_checkpoint(path)
    assert loaded.config == {"seed": 3, "hidden": 12}
    assert meta == {"rho": 0.5, "n": 5, "ok": True, "sizes": [0, 1, 2], "where": str(tmp_path)}
    for p, q in zip(loaded.parameters(), fc2(seed=3, hidden=12).parameters()):
        np.testing.assert_array_equal(p, q)


@pytest.mark.parametrize("net,metadata", [
    pytest.param(fc2(), [1, 2], id="metadata a list"),
    pytest.param(fc2(), {"f": print}, id="metadata not JSON"),
    pytest.param(Sequential([Flatten(), Dense(784, 2)]), None, id="a custom network"),
    pytest.param(Sequential(fc2().layers, arch="fc2", config={"hidden": 20}), None, id="layers not the config's"),
    pytest.param(Sequential(fc2().layers[:2], arch="fc2", config={"hidden": 10}), None, id="a layer missing"),
])
def test_what_could_not_be_loaded_back_is_refused_before_anything_is_written(tmp_path, net, metadata):
    with pytest.raises(ValueError):
        save_checkpoint(tmp_path / "n.npz", net, metadata)
    assert list(tmp_path.iterdir()) == []

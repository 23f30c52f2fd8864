"""Atomic writes: a failed or interrupted write leaves the old file and no temporary; JSON of
numpy values; .npz files never unpickle."""
import json
import os

import numpy as np
import pytest

from sparsenet import files


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "result.json"
    files.write_json(target, {"v": 1})
    with pytest.raises(RuntimeError, match="boom"):
        with files.atomic_path(target) as tmp:
            tmp.write_text("half a fi")
            raise RuntimeError("boom")
    assert json.loads(target.read_text()) == {"v": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["result.json"]


def test_temporary_names_carry_the_writer_pid(tmp_path):
    with files.atomic_path(tmp_path / "a.npz", suffix=".npz") as tmp:
        assert tmp.parent == tmp_path and tmp.name.startswith(f".tmp-{os.getpid()}-a.npz-")
        assert tmp.name.endswith(".npz")
        tmp.write_bytes(b"x")
    assert (tmp_path / "a.npz").read_bytes() == b"x"


def test_written_files_take_the_usual_permissions(tmp_path):
    # mkstemp creates 0600; results and figures must be readable like any file the user writes.
    old = os.umask(0o022)
    try:
        files.write_json(tmp_path / "r.json", {"v": 1})
    finally:
        os.umask(old)
    assert (tmp_path / "r.json").stat().st_mode & 0o777 == 0o644


def test_write_json_turns_numpy_values_into_plain_json(tmp_path):
    path = tmp_path / "x.json"
    files.write_json(path, {"i": np.int64(3), "f": np.float32(0.5), "a": np.arange(3), "p": tmp_path})
    back = json.loads(path.read_text())
    assert back == {"i": 3, "f": 0.5, "a": [0, 1, 2], "p": str(tmp_path)}
    assert type(back["i"]) is int
    with pytest.raises(TypeError, match="cannot serialise set"):
        files.write_json(tmp_path / "y.json", {"s": {1, 2}})
    assert not (tmp_path / "y.json").exists()


def test_npz_round_trip_and_object_arrays_are_refused(tmp_path):
    files.save_npz(tmp_path / "ok.npz", w=np.arange(4.0))
    np.testing.assert_array_equal(files.load_npz(tmp_path / "ok.npz")["w"], np.arange(4.0))
    np.savez(tmp_path / "obj.npz", w=np.array([{"code": "anything"}], dtype=object))
    with pytest.raises(ValueError):
        files.load_npz(tmp_path / "obj.npz")

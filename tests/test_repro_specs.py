"""sparsenet.repro.specs: experiments as data. The cache key changes with every setting and
only then, is stable across processes, and bad settings are refused."""
import dataclasses
import os
from pathlib import Path

import pytest

from sparsenet.repro.specs import AttackSpec, TrainSpec, as_json, attack_spec, spec_hash


def test_cache_key_changes_with_every_setting_and_only_then():
    spec = TrainSpec("cnn4", "mnist")
    assert spec.key() == TrainSpec("cnn4", "mnist").key()
    strings = {"arch": "fc2", "dataset": "fashion-mnist", "defense": "sparse", "basis": "haar",
               "optimizer": "sgd", "prune_rule": "neuron"}
    for field in dataclasses.fields(TrainSpec):
        value = getattr(spec, field.name)
        if isinstance(value, bool):
            new = not value
        elif isinstance(value, str):
            new = strings[field.name]
        elif value is None:
            new = 100
        else:
            new = value / 2 + 0.01 if isinstance(value, float) else value + 1
        assert dataclasses.replace(spec, **{field.name: new}).key() != spec.key(), field.name
    attack = attack_spec(spec, "pgd", 0.25, delta=0.0125, iterations=80)
    assert attack.key() == AttackSpec(TrainSpec("cnn4", "mnist"), "pgd", 0.25, None, "exact",
                                      (("delta", 0.0125), ("iterations", 80))).key()
    assert attack.settings == (("delta", 0.0125), ("iterations", 80))     # sorted by name, whatever the order
    other = {"model": dataclasses.replace(spec, seed=1), "attack": "ifgsm", "eps": 0.3, "gradient": "bpda",
             "n_test": 100, "settings": (("delta", 0.0125), ("iterations", 81))}
    assert set(other) == {f.name for f in dataclasses.fields(AttackSpec)}
    keys = {attack.key()}
    for name, value in other.items():
        changed = dataclasses.replace(attack, **{name: value}).key()
        assert changed not in keys, name
        keys.add(changed)
    for settings in ({"delta": 0.0125}, {"delta": 0.0125, "iterations": 80, "rng": 0}):
        assert attack_spec(spec, "pgd", 0.25, **settings).key() not in keys


def test_cache_key_is_stable_across_processes_and_json_round_trips():
    """The key is a hash of the settings as JSON, not Python's per-process hash()."""
    import subprocess
    import sys
    spec = attack_spec(TrainSpec("fc2", "mnist", binary=True), "cw", binary_steps=2)
    assert spec.key() == spec_hash(spec) and len(spec.key()) == 16
    code = ("from sparsenet.repro.specs import AttackSpec, TrainSpec; print(AttackSpec(TrainSpec("
            "'fc2', 'mnist', binary=True), 'cw', settings=(('binary_steps', 2),)).key())")
    other_process = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                                   cwd=Path(__file__).resolve().parent.parent,
                                   env={**os.environ, "PYTHONHASHSEED": "123"}).stdout.strip()
    assert other_process == spec.key()
    assert as_json(spec)["settings"] == [["binary_steps", 2]]


def test_specs_reject_bad_settings():
    with pytest.raises(ValueError, match="rho must be in"):
        TrainSpec("fc2", "mnist", rho=1.5)
    with pytest.raises(ValueError, match="rho must be in"):
        TrainSpec("fc2", "mnist", rho=0.0)
    assert TrainSpec("fc2", "mnist", rho=1.0).rho == 1.0           # the interval is (0, 1]
    with pytest.raises(ValueError, match="defense must be"):
        TrainSpec("fc2", "mnist", defense="magic")

"""The teaching walkthrough runs end to end on real data (training its two small nets)."""
import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_locally_linear_tour_runs(mnist_dir, tmp_path, capsys):
    spec = importlib.util.spec_from_file_location("tour", ROOT / "examples" / "locally_linear_tour.py")
    tour = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tour)
    out = tmp_path / "tour.png"
    assert tour.main(["--data-dir", str(Path(mnist_dir).parent), "--cache", str(tmp_path / "cache"),
                      "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert out.stat().st_size > 10_000
    # The identity of step 2 is exact up to float64 rounding.
    err = float(text.split("max |y - (w_eq^T x - b_eq)| over 6 digits: ")[1].split()[0])
    assert err < 1e-10

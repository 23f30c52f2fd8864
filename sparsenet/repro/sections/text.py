"""How REPORT.md writes a cell of summary.json: a value, its 95% interval, its spread over
training seeds, a row beside the paper's value; and the notes written after looking at the
results (``notes/<name>.md``), which REPORT.md includes."""
from __future__ import annotations

from pathlib import Path

NOTES = Path(__file__).resolve().parent.parent / "notes"

HEAD = "| | paper | ours [95% CI] | ours − paper |\n|---|---:|---:|---:|"
HEAD_SEEDS = ("| | paper | ours (seed 0) [95% CI] | ours − paper | over training seeds: mean ± std (min–max) | "
              "paper inside the seed range |\n|---|---:|---:|---:|---:|---|")


def fmt(v, digits=2):
    return "—" if v is None else f"{v:.{digits}f}"


def get(summ, key):
    """Our value of a summary entry, None when absent."""
    return summ.get(key, {}).get("ours")


def ci(summ, key):
    """" [lo, hi]": the cell's 95% interval, or "" when it has none."""
    interval = summ.get(f"{key}/ci95", {}).get("ours")
    return f" [{interval[0]:.1f}, {interval[1]:.1f}]" if interval else ""


def seeds(summ, key):
    """``mean ± std (min–max)`` over training seeds, or "" for one seed."""
    if f"{key}/mean" not in summ:
        return ""
    g = lambda s: summ[f"{key}/{s}"]["ours"]   # noqa: E731
    return f"{g('mean'):.2f} ± {g('std'):.2f} ({g('min'):.2f}–{g('max'):.2f})"


def count(summ, key):
    """The number of test images behind a cell, "1,000", or "?"."""
    n = summ.get(key, {}).get("n")
    return f"{n:,}" if n else "?"


def row(label, key, summ, digits=2, with_seeds=False):
    """A table row: the paper's value, ours with its interval, the difference (flagged
    beyond 5 points) and, ``with_seeds``, the spread over training seeds."""
    cell = summ.get(key, {})
    paper, ours = cell.get("paper"), cell.get("ours")
    diff = ours - paper if paper is not None and ours is not None else None
    flag = " ⚠" if diff is not None and abs(diff) > 5 and digits == 2 else ""
    out = f"| {label} | {fmt(paper, digits)} | {fmt(ours, digits)}{ci(summ, key) if digits == 2 else ''} | " \
          f"{fmt(diff, digits)}{flag} |"
    if with_seeds:
        inside = summ.get(f"{key}/paper_in_seed_range", {}).get("ours")
        mark = "" if inside is None else (" yes" if inside else " no")
        out += f" {seeds(summ, key) or '—'} |{mark} |"
    return out


def notes(name):
    """{heading: text} of ``notes/<name>.md``: paragraphs written after looking at the numbers,
    each under a ``## <heading>`` line (a cell key, or a part of a section)."""
    path = NOTES / f"{name}.md"
    if not path.exists():
        return {}
    out, heading = {}, None
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("## "):
            heading = line[3:].strip()
            out[heading] = []
        elif heading is not None:
            out[heading].append(line)
    return {h: " ".join(" ".join(lines).split()) for h, lines in out.items()}

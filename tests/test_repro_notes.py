"""The notes REPORT.md prints beside the results (sparsenet/repro/notes/*.md) quote the committed
results: every number a note writes with a decimal point or a % sign is a value of
results/summary.json, rounded as the note writes it (whole numbers without a % are settings and
counts: "80 iterations", "ρ = 3" is written "ρ = 3%" and is checked). After a regeneration a
failure here names the note and the number to re-read."""
import json
import re
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pytest

from sparsenet.repro import sections
from sparsenet.repro.sections.text import NOTES, notes

ROOT = Path(__file__).resolve().parent.parent
NUMBER = re.compile(r"(?<![\w.])(\d+(?:\.\d+)?)(\s*%)?")
SETTINGS = {"3%"}      # ρ = 3%, the paper's sparsity level, quoted as a setting


def values(summary):
    out = []
    for entry in summary.values():
        v = entry.get("ours") if isinstance(entry, dict) else entry
        for x in (v if isinstance(v, list) else [v]):
            if isinstance(x, (int, float)) and not isinstance(x, bool):
                out.append(float(x))
    return out


def written(value, digits):
    return str(Decimal(repr(value)).quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP))


def quoted(text):
    """The numbers a note's text quotes as results: (as written, digits)."""
    for m in NUMBER.finditer(text):
        number, percent = m.group(1), m.group(2)
        if "." not in number and not percent:
            continue
        if percent and f"{number}%" in SETTINGS:
            continue
        yield number, len(number.split(".")[1]) if "." in number else 0


@pytest.fixture(scope="module")
def summary():
    return json.loads((ROOT / "results" / "summary.json").read_text(encoding="utf-8"))


def test_every_note_belongs_to_a_section_and_has_a_heading():
    names = {s.name for s in sections.SECTIONS}
    for path in NOTES.glob("*.md"):
        assert path.stem in names, f"{path.name}: no section called {path.stem!r}"
        assert notes(path.stem), f"{path.name} has no '## ' heading: REPORT.md would print nothing of it"


def test_every_number_a_note_quotes_is_in_the_committed_summary(summary):
    known = values(summary)
    for path in sorted(NOTES.glob("*.md")):
        for heading, text in notes(path.stem).items():
            for number, digits in quoted(text):
                assert any(written(v, digits) == number for v in known), \
                    f"{path.name}, '{heading}': {number} is not a value of results/summary.json"


def test_a_cell_note_is_about_a_cell_of_the_summary(summary):
    for path in sorted(NOTES.glob("*.md")):
        for heading in notes(path.stem):
            assert heading == "conclusion" or heading in summary, f"{path.name}: no cell {heading!r}"

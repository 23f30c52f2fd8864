"""Run the tutorial: execute every chapter's ```python blocks, check the text against the output.

    python docs/tutorial/run.py               # run all chapters, rewrite outputs and figures
    python docs/tutorial/run.py --check       # run all chapters, change nothing, fail on any difference
    python docs/tutorial/run.py --chapter 3   # one chapter (repeat the option for several)
    python docs/tutorial/run.py --notebooks   # only rewrite notebooks/*.ipynb from the chapters (no run)

How a chapter is written (``NN-title.md``):

* Every ```python block runs, in order, in one namespace per chapter (a chapter may import
  ``_common``, the helpers in this folder). What a block prints is shown right below it, in an
  ```output block that this script writes. With ``--check`` the fresh output must equal the
  block already in the file, character for character.
* A number the prose quotes is written in bold, ``**0.98**`` or ``**98.5%**``. Every bold
  span that contains a digit must appear, as printed, in the output of the blocks above it in
  the same chapter (not inside a longer number). So the text cannot drift from the code.
* Figures are written by ``_common.save_figure(fig, name)``; every figure a chapter writes
  must be shown in it (``![...](figures/name)``) and every figure it shows must exist. With
  ``--check`` figures go to a temporary folder (or ``--figures DIR``), so nothing in the
  repository changes.

Notebooks: every chapter is also written as a Jupyter notebook, ``notebooks/NN-title.ipynb``
(nbformat 4.5 JSON, written with the standard library): prose as Markdown cells, each
```python block as a code cell carrying its ```output block as the cell's stdout, after one
setup cell (tagged "setup") that makes ``_common`` and ``sparsenet`` importable from the
notebooks folder. A run without ``--check`` rewrites the notebooks of the chapters it ran;
``--notebooks`` rewrites them all from the chapter files as they are, running nothing;
``--check`` also fails when a notebook is not what the chapter gives.

Exit status 0 when every chapter ran and (with ``--check``) agreed with its text; 1 otherwise,
with a message naming the chapter, the block and the difference.
"""
from __future__ import annotations

import argparse
import contextlib
import difflib
import io
import json
import os
import re
import sys
import tempfile
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
NOTEBOOKS = HERE / "notebooks"
FENCE = re.compile(r"^```(\w*)\s*$")
BOLD = re.compile(r"\*\*(.+?)\*\*")
IMAGE = re.compile(r"!\[[^\]]*\]\((figures/[^)\s]+)\)")


class TutorialError(Exception):
    """A chapter failed: its code raised, or its text disagrees with what the code printed."""


def setup_path():
    """Make ``_common`` (this folder) and ``sparsenet`` (the repository) importable."""
    for p in (str(HERE), str(ROOT)):
        if p not in sys.path:
            sys.path.insert(0, p)


def chapters(folder=HERE):
    return sorted(folder.glob("[0-9][0-9]-*.md"))


def parse(text):
    """Split a chapter into segments: ("prose", lines), ("python", lines), ("output", lines),
    ("fence", (lang, lines)) for other fenced blocks. Lines keep no newline."""
    lines, segments, prose, i = text.split("\n"), [], [], 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            prose.append(lines[i])
            i += 1
            continue
        lang = m.group(1)
        end = i + 1
        while end < len(lines) and lines[end].rstrip() != "```":
            end += 1
        if end == len(lines):
            raise TutorialError(f"unclosed ``` fence opened on line {i + 1}")
        if prose:
            segments.append(("prose", prose))
            prose = []
        body = lines[i + 1:end]
        segments.append((lang if lang in ("python", "output") else "fence", body if lang in ("python", "output")
                         else (lang, body)))
        i = end + 1
    if prose:
        segments.append(("prose", prose))
    return segments


def render(segments):
    out = []
    for kind, body in segments:
        if kind == "prose":
            out.extend(body)
        elif kind == "fence":
            out.extend(["```" + body[0], *body[1], "```"])
        else:
            out.extend(["```" + kind, *body, "```"])
    return "\n".join(out)


def _number_in(quoted, output):
    """Does ``quoted`` (a bold span) appear in ``output`` as printed, not inside a longer number?"""
    pattern = r"(?<![\d.])" + re.escape(quoted) + r"(?!\d|\.\d)"
    return re.search(pattern, output) is not None


def run_chapter(path, check=False, figures_dir=None, log=print):
    """Run one chapter; returns its seconds. Raises TutorialError on any failure."""
    setup_path()
    import _common   # noqa: E402  (the helpers of this folder)

    path = Path(path)
    name = path.stem
    text = path.read_text()
    segments = parse(text)
    figures_dir = Path(figures_dir) if figures_dir else HERE / "figures"
    figures_dir.mkdir(parents=True, exist_ok=True)
    _common.FIGURES_DIR = figures_dir
    _common.SAVED.clear()
    namespace = {"__name__": f"tutorial_{name.replace('-', '_')}"}
    new, printed, problems = [], "", []
    t0 = time.perf_counter()
    i, block = 0, 0
    while i < len(segments):
        kind, body = segments[i]
        if kind == "output":       # an output block not after a python block is stale: drop it
            problems.append(f"an output block without a python block above it (segment {i})")
            i += 1
            continue
        new.append(segments[i])
        if kind == "prose":
            for lineno, line in enumerate(body):
                for quoted in BOLD.findall(line):
                    if re.search(r"\d", quoted) and not _number_in(quoted, printed):
                        problems.append(f"the prose quotes **{quoted}** but no output above it prints it:\n"
                                        f"    {line.strip()[:160]}")
        if kind == "python":
            block += 1
            buffer = io.StringIO()
            try:
                with contextlib.redirect_stdout(buffer):
                    exec(compile("\n".join(body) + "\n", f"{path.name}, python block {block}", "exec"), namespace)
            except Exception:
                raise TutorialError(f"{path.name}: python block {block} raised:\n{traceback.format_exc()}"
                                    f"\nits output so far:\n{buffer.getvalue()}") from None
            out = buffer.getvalue().rstrip("\n").split("\n") if buffer.getvalue().strip() else []
            printed += buffer.getvalue()
            following = segments[i + 1:i + 3]
            if following and following[0][0] == "prose" and not "".join(following[0][1]).strip():
                following = following[1:]           # blank lines between the code and its output
                skip = 1
            else:
                skip = 0
            old = following[0][1] if following and following[0][0] == "output" else None
            if out:
                new.append(("output", out))
            if old is not None:
                i += 1 + skip
            if check and (old or []) != out:
                diff = "\n".join(difflib.unified_diff(old or [], out, "in the file", "printed now", lineterm=""))
                problems.append(f"python block {block}: the output block differs from what the code prints:\n{diff}")
        i += 1
    seconds = time.perf_counter() - t0
    new_text = render(new)
    shown = set(IMAGE.findall(new_text))
    saved = {f"figures/{n}" for n in _common.SAVED}
    for fig in sorted(saved - shown):
        problems.append(f"the code writes {fig} but the chapter never shows it")
    for fig in sorted(shown - saved):
        if not (HERE / fig).exists():
            problems.append(f"the chapter shows {fig}, which does not exist")
    if check and problems:
        raise TutorialError(f"{path.name} disagrees with its code:\n- " + "\n- ".join(problems))
    if not check:
        bad = [p for p in problems if "output block differs" not in p]
        if new_text != text:
            tmp = path.with_suffix(".md.tmp")
            tmp.write_text(new_text)
            os.replace(tmp, path)
        if bad:
            raise TutorialError(f"{path.name} (outputs rewritten) still has problems to fix by hand:\n- "
                                + "\n- ".join(bad))
    return seconds


# -- notebooks ---------------------------------------------------------------------------------
LINK = re.compile(r"(!?\[[^\]]*\]\()([^)\s]+)(\))")
SETUP = ("# Setup (not part of the chapter): make the tutorial's helpers (_common) and the\n"
         "# library importable when this notebook runs from docs/tutorial/notebooks/.\n"
         "import sys\n"
         "sys.path[:0] = [\"..\", \"../../..\"]")


def _relink(line):
    """Links of a chapter, seen from notebooks/: a chapter's .md becomes its notebook, every
    other relative target gets one more ../"""
    def fix(m):
        target = m.group(2)
        if re.match(r"^([a-z]+:|#|/)", target):
            return m.group(0)
        if re.fullmatch(r"\d\d-[\w-]+\.md(#.*)?", target):
            target = target.replace(".md", ".ipynb", 1)
        else:
            target = "../" + target
        return m.group(1) + target + m.group(3)
    return LINK.sub(fix, line)


def _source(lines):
    """nbformat's multi-line string: a list of lines, each but the last ending in a newline."""
    return [line + "\n" for line in lines[:-1]] + lines[-1:]


def notebook(text, stem):
    """The nbformat 4.5 notebook (a dict) of a chapter's text; ``stem`` names the cell ids."""
    cells, markdown, count = [], [], 0

    def cell_id():
        return f"{stem[:2]}-{len(cells):03d}"

    def flush():
        while markdown and not markdown[0].strip():
            markdown.pop(0)
        while markdown and not markdown[-1].strip():
            markdown.pop()
        if markdown:
            cells.append({"cell_type": "markdown", "id": cell_id(), "metadata": {},
                          "source": _source([_relink(line) for line in markdown])})
        markdown.clear()

    cells.append({"cell_type": "code", "id": cell_id(), "metadata": {"tags": ["setup"]},
                  "source": _source(SETUP.split("\n")), "outputs": [], "execution_count": None})
    segments = parse(text)
    for i, (kind, body) in enumerate(segments):
        if kind == "prose":
            markdown.extend(body)
        elif kind == "fence":
            markdown.extend(["```" + body[0], *body[1], "```"])
        elif kind == "python":
            flush()
            count += 1
            following = [s for s in segments[i + 1:i + 3] if not (s[0] == "prose" and not "".join(s[1]).strip())]
            out = following[0][1] if following and following[0][0] == "output" else []
            outputs = [{"output_type": "stream", "name": "stdout", "text": [line + "\n" for line in out]}] \
                if out else []
            cells.append({"cell_type": "code", "id": cell_id(), "metadata": {}, "source": _source(body),
                          "outputs": outputs, "execution_count": count})
    flush()
    return {"cells": cells, "nbformat": 4, "nbformat_minor": 5,
            "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
                         "language_info": {"name": "python"},
                         "title": text.split("\n", 1)[0].lstrip("# ").strip()}}


def notebook_json(path):
    """The notebook file's text for the chapter at ``path``."""
    path = Path(path)
    return json.dumps(notebook(path.read_text(), path.stem), indent=1, ensure_ascii=False, sort_keys=True) + "\n"


def notebook_path(path):
    return NOTEBOOKS / (Path(path).stem + ".ipynb")


def write_notebook(path):
    """Write the chapter's notebook (atomically); returns its path."""
    target = notebook_path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".ipynb.tmp")
    tmp.write_text(notebook_json(path))
    os.replace(tmp, target)
    return target


def stale_notebook(path):
    """None if the chapter's notebook is what the chapter gives, else what is wrong."""
    target = notebook_path(path)
    name = f"{target.parent.name}/{target.name}"
    if not target.exists():
        return f"{name} is missing (python docs/tutorial/run.py --notebooks)"
    if target.read_text() != notebook_json(path):
        return f"{name} is not what {Path(path).name} gives (python docs/tutorial/run.py --notebooks)"
    return None


def load_average():
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):      # not on every platform
        return float("nan")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="compare outputs with the files; write nothing")
    ap.add_argument("--chapter", type=int, action="append", help="run only chapter N (repeatable)")
    ap.add_argument("--figures", help="folder for the figures (default: docs/tutorial/figures, "
                                      "or a temporary folder with --check)")
    ap.add_argument("--notebooks", action="store_true", help="only rewrite notebooks/*.ipynb from the chapter "
                                                             "files; run nothing")
    args = ap.parse_args(argv)
    setup_path()
    found = chapters()
    if args.chapter:
        found = [c for c in found if int(c.name[:2]) in args.chapter]
        if not found:
            print(f"error: no chapter {args.chapter} in {HERE}", file=sys.stderr)
            return 2
    if args.notebooks:
        if args.check:
            print("error: --notebooks writes the notebooks; --check runs the chapters and checks them", file=sys.stderr)
            return 2
        for path in found:
            target = write_notebook(path)
            print(f"{target.parent.name}/{target.name}: written from {path.name}")
        return 0
    load, start, failed = load_average(), time.perf_counter(), []
    with contextlib.ExitStack() as stack:
        figures = args.figures
        if figures is None and args.check:
            figures = stack.enter_context(tempfile.TemporaryDirectory(prefix="tutorial-figures-"))
        for path in found:
            try:
                seconds = run_chapter(path, check=args.check, figures_dir=figures)
                if args.check:
                    stale = stale_notebook(path)
                    if stale:
                        raise TutorialError(stale)
                else:
                    write_notebook(path)
                print(f"{path.name}: ok ({seconds:.1f}s)", flush=True)
            except TutorialError as e:
                failed.append(path.name)
                print(f"{path.name}: FAILED\n{e}", flush=True)
    print(f"{len(found) - len(failed)} of {len(found)} chapters ok in {time.perf_counter() - start:.1f}s"
          + (" (checked, nothing written)" if args.check else "")
          + f"; 1-minute load average {load:.2f} at the start, {load_average():.2f} at the end ({os.cpu_count()} cores)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

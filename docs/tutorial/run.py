"""Run the tutorial: execute every chapter's ```python blocks, check the text against the output.

    python docs/tutorial/run.py               # run all chapters, rewrite outputs and figures
    python docs/tutorial/run.py --check       # run all chapters, change nothing, fail on any difference
    python docs/tutorial/run.py --chapter 3   # one chapter (repeat the option for several)

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

Exit status 0 when every chapter ran and (with ``--check``) agreed with its text; 1 otherwise,
with a message naming the chapter, the block and the difference.
"""
from __future__ import annotations

import argparse
import contextlib
import difflib
import io
import os
import re
import sys
import tempfile
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
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


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="compare outputs with the files; write nothing")
    ap.add_argument("--chapter", type=int, action="append", help="run only chapter N (repeatable)")
    ap.add_argument("--figures", help="folder for the figures (default: docs/tutorial/figures, "
                                      "or a temporary folder with --check)")
    args = ap.parse_args(argv)
    setup_path()
    found = chapters()
    if args.chapter:
        found = [c for c in found if int(c.name[:2]) in args.chapter]
        if not found:
            print(f"error: no chapter {args.chapter} in {HERE}", file=sys.stderr)
            return 2
    start, failed = time.perf_counter(), []
    with contextlib.ExitStack() as stack:
        figures = args.figures
        if figures is None and args.check:
            figures = stack.enter_context(tempfile.TemporaryDirectory(prefix="tutorial-figures-"))
        for path in found:
            try:
                seconds = run_chapter(path, check=args.check, figures_dir=figures)
                print(f"{path.name}: ok ({seconds:.1f}s)", flush=True)
            except TutorialError as e:
                failed.append(path.name)
                print(f"{path.name}: FAILED\n{e}", flush=True)
    print(f"{len(found) - len(failed)} of {len(found)} chapters ok in {time.perf_counter() - start:.1f}s"
          + (" (checked, nothing written)" if args.check else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

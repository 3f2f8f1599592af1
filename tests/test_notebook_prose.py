"""The notebooks' prose types no measurement, and every notebook has checked exercises.

A measured number (a speed-up, a time, a share, a score) changes from run to run and machine to
machine, so a markdown cell that types one will sooner or later contradict the outputs right below
it. Measured sentences are printed by code from the run's values instead (the notebooks' ``say``
helper). This scanner flags the usual shapes of a typed measurement in markdown cells.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))

_NUM = r"(?<![\w.])\d+(?:[.,]\d+)?"
#: (what it looks like, pattern). Each pattern matches a number with a unit of measurement.
MEASUREMENTS = [
    ("a ratio such as '5x' or '2-3x' (a size such as '3x3' or '256x256' is fine)", rf"{_NUM}[x×](?![\d\w])"),
    ("a time such as '12 ms', '3 s' or '40 µs'", rf"{_NUM}\s?(?:ms|µs|us|ns|s|sec|secs|seconds?|minutes?)(?![\w])"),
    ("a share such as '58 %' or '12%'", rf"{_NUM}\s?%"),
    ("a score with three or more decimals such as 'IoU 0.793'", r"(?<![\w.])\d\.\d{3,}(?![\d])"),
    ("'N times faster/slower/as long'", rf"{_NUM}\s?times\b"),
]


def typed_measurements(text: str) -> list[str]:
    """Every substring of ``text`` that looks like a typed measurement, with what it looks like.

    The ``**Time:**`` line of a notebook's header is an estimate for a class, not a measurement.
    """
    text = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("**Time"))
    hits = []
    for what, pattern in MEASUREMENTS:
        for m in re.finditer(pattern, text):
            line = text[max(0, m.start() - 30) : m.end() + 10].replace("\n", " ")
            hits.append(f"{m.group(0)!r} ({what}) in '...{line}...'")
    return hits


@pytest.mark.parametrize(
    ("text", "flagged"),
    [
        ("torch.where took about 2-3x as long", True),
        ("masked_fill about 5x", True),
        ("the inpainted pixels average 0.262", True),
        ("training took 12 s on a laptop", True),
        ("12.5 ms per call", True),
        ("58 % of the pixels", True),
        ("it was 3 times faster", True),
        ("a 3x3 window", False),
        ("a 3 x 3 window", False),
        ("the set has `8 x N_DRAWN` images", False),
        ("about 40× slower", True),
        ("256x256 scenes", False),
        ("a (B, 1, H, W) mask", False),
        ("thresholds 0, 0.25, 0.5, 0.75 and 1", False),
        ("notebook 05 trains twice", False),
        ("values 0 and 255", False),
        ("`sigmoid(0) = 0.5`", False),
        ("`ignore_index=255`", False),
        ("**Time:** about 20 minutes, plus 15 for the exercises.", False),
        ("it took 20 minutes", True),
    ],
)
def test_scanner(text: str, flagged: bool) -> None:
    assert bool(typed_measurements(text)) is flagged, typed_measurements(text)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_no_typed_measurement_in_markdown(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    hits = [
        f"cell {i}: {hit}"
        for i, cell in enumerate(nb.cells)
        if cell.cell_type == "markdown"
        for hit in typed_measurements(cell.source)
    ]
    assert not hits, (
        f"{path.name}: markdown types measured numbers; print them from the run (say(f'...')) instead:\n"
        + "\n".join(hits)
    )


def exercise_checks(nb: nbformat.NotebookNode) -> list[str]:
    """The exercise names checked in the notebook's visible (student) code cells."""
    names = []
    for cell in nb.cells:
        if cell.cell_type == "code" and not cell.metadata.get("jupyter", {}).get("source_hidden"):
            names += re.findall(r"(?<!def )\bcheck\(\s*([\"']?[\w.]+[\"']?)\s*,", cell.source)
    return names


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_at_least_two_checked_exercises(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    names = set(exercise_checks(nb))
    assert len(names) >= 2, f"{path.name}: {len(names)} checked exercise(s) {sorted(names)}; a class needs >= 2"
    hidden = "\n".join(
        c.source for c in nb.cells if c.cell_type == "code" and c.metadata.get("jupyter", {}).get("source_hidden")
    )
    for name in names:  # each has a solution, collapsed, that asserts its own check
        assert re.search(rf"assert\s+check\(\s*{re.escape(name)}\s*,", hidden), (
            f"{path.name}: exercise {name!r} has no hidden solution cell with `assert check({name!r}, ...)`"
        )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_objectives_prerequisites_time(path: Path) -> None:
    first = nbformat.read(path, as_version=4).cells[0]
    assert first.cell_type == "markdown"
    for word in ("Objective", "Prerequisites", "Time"):
        assert f"**{word}" in first.source, f"{path.name}: the first cell has no **{word}...** line"

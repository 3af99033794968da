"""A seeded, reproducible Canvas outcomes CSV of any size.

10% groups in a 3-level tree, 90% outcomes with 4 rating tiers and ~200-character descriptions
holding commas and quotes (about 400 bytes a row), like the files this service is measured on.

    python -m benchmarks.generate ROWS PATH [--seed N]
"""

from __future__ import annotations

import argparse
import csv
import random
from collections.abc import Iterator
from pathlib import Path

HEADER = [
    "vendor_guid", "object_type", "title", "description", "display_name", "calculation_method",
    "calculation_int", "parent_guids", "workflow_state", "mastery_points", "ratings",
]
RATINGS = ["4", "Exceeds", "3", "Meets", "2", "Approaching", "1", "Beginning"]
WIDTH = len(HEADER) + len(RATINGS) - 1
WORDS = (
    "students", "analyze", "evaluate", "the", "argument", "evidence", "with", "clarity",
    "reasoning", "model", "quantities", "relationships", '"key"', "ideas,", "details,",
    "structure", "craft", "integrate", "knowledge", "of", "in", "and", "text", "data",
)
METHODS = (("decaying_average", "65"), ("n_mastery", "3"), ("highest", ""), ("latest", ""))


def _sentences(rng: random.Random, length: int, count: int = 512) -> list[str]:
    """A pool of random texts: drawing from it keeps generation fast and the data varied."""
    pool = []
    for _ in range(count):
        words: list[str] = []
        while sum(len(word) + 1 for word in words) < length:
            words.append(rng.choice(WORDS))
        pool.append(" ".join(words))
    return pool


def rows(count: int, seed: int = 1, prefix: str = "") -> Iterator[list[str]]:
    """``count`` data rows: a group every 10th row (top, middle and leaf levels in turn),
    the other rows outcomes in the newest group. ``prefix`` starts every vendor_guid (outcome
    guids are unique across an installation)."""
    rng = random.Random(seed)
    descriptions, titles = _sentences(rng, 230), _sentences(rng, 40)
    newest = {0: "", 1: "", 2: ""}
    parent = ""
    for index in range(count):
        description = rng.choice(descriptions)
        if index % 10 == 0:
            level = (index // 10) % 3
            group_parent = newest[level - 1] if level else ""
            parent = newest[level] = f"{prefix}g{index}"
            row = [parent, "group", f"Group {index}", description, "", "", "", group_parent,
                   "active", ""]
        else:
            method, calculation_int = METHODS[index % len(METHODS)]
            title = f"Outcome {index}: {rng.choice(titles)}"
            row = [f"{prefix}o{index}", "outcome", title, description, f"O{index}", method,
                   calculation_int, parent, "active", "3", *RATINGS]
        yield row + [""] * (WIDTH - len(row))


def write(count: int, path: Path, seed: int = 1, prefix: str = "") -> Path:
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(HEADER + [""] * (WIDTH - len(HEADER)))
        writer.writerows(rows(count, seed, prefix))
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description="Write a seeded Canvas outcomes CSV.")
    parser.add_argument("rows", type=int)
    parser.add_argument("path", type=Path)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--prefix", default="", help="starts every vendor_guid")
    args = parser.parse_args()
    write(args.rows, args.path, args.seed, args.prefix)


if __name__ == "__main__":
    main()

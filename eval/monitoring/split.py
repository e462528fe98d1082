#!/usr/bin/env python3
"""Split the monitoring evaluation set (items.tsv) into dev.tsv and test.tsv.

The split is stratified by label, kind and language so that every category, the hard
negatives and the Polish items appear in both halves in proportion, and it is seeded so that
running it again on the same items.tsv gives byte-identical files: the test split must not
drift, or figures measured on different days would not be comparable.

Usage: python3 eval/monitoring/split.py            (writes dev.tsv and test.tsv beside it)
       python3 eval/monitoring/split.py --check    (exits 1 if the files on disk are stale)
"""

import argparse
import random
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SEED = 6006  # issue 6; changing it reshuffles the test split and invalidates old figures
DEV_SHARE = 0.4
HEADER = "# text\tlabel\tkind\tsource\tlanguage\n"

LABELS = {
    "suicide_self_harm",
    "eating_disorder",
    "radicalisation",
    "hate",
    "bullying",
    "grooming_sexual_exploitation",
    "pornography",
    "drugs",
    "weapons_violence",
    "gambling",
    "none",
}
KINDS = {"positive", "hard_negative", "benign"}
LANGUAGES = {"en", "pl"}


class ItemError(ValueError):
    """A line of the items file that does not follow the format."""


def parse_items(lines):
    """Parse TSV lines into (text, label, kind, source, language) tuples.

    Raises ItemError naming the line and what to fix, so a hand edit that breaks the file
    is caught before any figures are produced from it.
    """
    items = []
    seen_sources = {}
    seen_texts = {}
    for number, raw in enumerate(lines, 1):
        line = raw.rstrip("\n")
        if not line.strip() or line.startswith("#"):
            continue
        fields = line.split("\t")
        if len(fields) != 5:
            raise ItemError(
                f"line {number}: expected 5 tab-separated fields "
                f"(text, label, kind, source, language), found {len(fields)}"
            )
        text, label, kind, source, language = (field.strip() for field in fields)
        if not text:
            raise ItemError(f"line {number}: the text is empty")
        if label not in LABELS:
            raise ItemError(f"line {number}: unknown label {label!r}; use one of {sorted(LABELS)}")
        if kind not in KINDS:
            raise ItemError(f"line {number}: unknown kind {kind!r}; use one of {sorted(KINDS)}")
        if (kind == "positive") != (label != "none"):
            raise ItemError(
                f"line {number}: kind {kind!r} does not fit label {label!r}; "
                "positives carry a category, hard negatives and benign items carry none"
            )
        if language not in LANGUAGES:
            raise ItemError(
                f"line {number}: unknown language {language!r}; use one of {sorted(LANGUAGES)}"
            )
        if source in seen_sources:
            raise ItemError(
                f"line {number}: source id {source!r} already used on line {seen_sources[source]}"
            )
        folded = text.casefold()
        if folded in seen_texts:
            raise ItemError(f"line {number}: the same text is already on line {seen_texts[folded]}")
        seen_sources[source] = number
        seen_texts[folded] = number
        items.append((text, label, kind, source, language))
    return items


def split(items, seed=SEED, dev_share=DEV_SHARE):
    """Return (dev, test), stratified by (label, kind, language), deterministic for a seed."""
    strata = {}
    for item in items:
        strata.setdefault((item[1], item[2], item[4]), []).append(item)
    rng = random.Random(seed)
    dev, test = [], []
    for key in sorted(strata):
        # Sorting by source id first makes the result independent of the order of items.tsv.
        members = sorted(strata[key], key=lambda item: item[3])
        rng.shuffle(members)
        cut = round(len(members) * dev_share)
        dev.extend(members[:cut])
        test.extend(members[cut:])
    dev.sort(key=lambda item: item[3])
    test.sort(key=lambda item: item[3])
    return dev, test


def render(items):
    return HEADER + "".join("\t".join(item) + "\n" for item in items)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if dev.tsv/test.tsv are stale")
    args = parser.parse_args(argv)
    try:
        items = parse_items((HERE / "items.tsv").read_text(encoding="utf-8").splitlines())
    except (OSError, ItemError) as error:
        print(f"items.tsv: {error}", file=sys.stderr)
        return 2
    dev, test = split(items)
    outputs = {"dev.tsv": render(dev), "test.tsv": render(test)}
    if args.check:
        stale = [
            name
            for name, text in outputs.items()
            if not (HERE / name).exists() or (HERE / name).read_text(encoding="utf-8") != text
        ]
        if stale:
            print(f"stale: {', '.join(stale)}; run python3 eval/monitoring/split.py", file=sys.stderr)
            return 1
        return 0
    for name, text in outputs.items():
        (HERE / name).write_text(text, encoding="utf-8")
    print(f"dev: {len(dev)} items, test: {len(test)} items")
    return 0


if __name__ == "__main__":
    sys.exit(main())

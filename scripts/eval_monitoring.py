#!/usr/bin/env python3
"""Measure `hedgerow monitor classify` on the monitoring evaluation set.

Runs the classifier once over every text of a split (default: test), then prints precision,
recall and F1 per category, macro-F1 over the ten categories, accuracy on items labelled
`none`, and how often hard negatives and ordinary benign items were flagged (any category
other than none). It reports; it is not a test: the exit status is 0 even when the figures
miss the targets, 2 when the classifier cannot be run or answers in a form we cannot read,
or when the evaluation file is malformed.

The classifier command is, in order of preference:
  HEDGEROW_CLASSIFY_CMD  a shell command line reading texts on stdin (for stand-ins);
  HEDGEROW_BIN           path to the hedgerow binary, run as `BIN monitor classify`;
  `hedgerow` on PATH.

Python standard library only, so it runs on any machine that can build the project.
"""

import argparse
import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
EVAL_DIR = REPO / "eval" / "monitoring"
sys.path.insert(0, str(EVAL_DIR))

from split import LABELS, ItemError, parse_items  # noqa: E402  (path set just above)

CATEGORIES = [
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
]
TARGET_MACRO_F1 = 0.8
TARGET_HARD_NEGATIVE_FLAGGED = 0.05


class ClassifierError(RuntimeError):
    """The classifier failed, or wrote something that is not one answer per input line."""


def classifier_command(age_band):
    """The argv (or shell line) to run, and whether it needs a shell."""
    override = os.environ.get("HEDGEROW_CLASSIFY_CMD")
    if override:
        return override, True
    binary = os.environ.get("HEDGEROW_BIN", "hedgerow")
    argv = [binary, "monitor", "classify"]
    if age_band:
        argv += ["--age-band", age_band]
    return argv, False


def run_classifier(texts, age_band=None, timeout=600):
    """Return one (category, severity) per text, in input order."""
    command, use_shell = classifier_command(age_band)
    shown = command if use_shell else shlex.join(command)
    stdin = "".join(text + "\n" for text in texts)
    try:
        completed = subprocess.run(
            command,
            input=stdin,
            capture_output=True,
            text=True,
            encoding="utf-8",
            shell=use_shell,
            timeout=timeout,
            check=False,
        )
    except FileNotFoundError:
        raise ClassifierError(
            f"cannot run {shown!r}: not found; build it with `cargo build --release -p hedgerow` "
            "and set HEDGEROW_BIN, or set HEDGEROW_CLASSIFY_CMD"
        ) from None
    except subprocess.TimeoutExpired:
        raise ClassifierError(f"{shown!r} did not finish within {timeout} s") from None
    if completed.returncode != 0:
        raise ClassifierError(
            f"{shown!r} exited with status {completed.returncode}: {completed.stderr.strip()[:2000]}"
        )
    lines = completed.stdout.splitlines()
    if len(lines) != len(texts):
        raise ClassifierError(
            f"{shown!r} wrote {len(lines)} lines for {len(texts)} texts; "
            "it must write exactly one `text<TAB>category<TAB>severity` line per input line"
        )
    answers = []
    for number, (text, line) in enumerate(zip(texts, lines), 1):
        fields = line.split("\t")
        if len(fields) != 3:
            raise ClassifierError(
                f"output line {number} has {len(fields)} tab-separated fields, expected 3: {line!r}"
            )
        echoed, category, severity_text = fields
        if echoed.strip() != text:
            raise ClassifierError(
                f"output line {number} echoes {echoed!r} but input line {number} was {text!r}; "
                "answers must be in input order"
            )
        if category not in LABELS:
            raise ClassifierError(f"output line {number}: unknown category {category!r}")
        try:
            severity = int(severity_text)
        except ValueError:
            raise ClassifierError(
                f"output line {number}: severity {severity_text!r} is not a whole number"
            ) from None
        answers.append((category, severity))
    return answers


def ratio(numerator, denominator):
    """A share, defined as 0.0 when there is nothing to divide by (reported with its counts)."""
    return numerator / denominator if denominator else 0.0


def score(items, answers):
    """Compute every figure from gold items and classifier answers (same order)."""
    per_category = {}
    for category in CATEGORIES:
        tp = sum(1 for it, (got, _) in zip(items, answers) if it[1] == category and got == category)
        fp = sum(1 for it, (got, _) in zip(items, answers) if it[1] != category and got == category)
        fn = sum(1 for it, (got, _) in zip(items, answers) if it[1] == category and got != category)
        precision = ratio(tp, tp + fp)
        recall = ratio(tp, tp + fn)
        f1 = ratio(2 * precision * recall, precision + recall)
        per_category[category] = {
            "support": tp + fn,
            "tp": tp,
            "fp": fp,
            "fn": fn,
            "precision": precision,
            "recall": recall,
            "f1": f1,
        }
    macro_f1 = sum(c["f1"] for c in per_category.values()) / len(CATEGORIES)

    def flagged_share(kind):
        chosen = [got for it, (got, _) in zip(items, answers) if it[2] == kind]
        flagged = sum(1 for got in chosen if got != "none")
        return {"items": len(chosen), "flagged": flagged, "rate": ratio(flagged, len(chosen))}

    none_items = [got for it, (got, _) in zip(items, answers) if it[1] == "none"]
    none_correct = sum(1 for got in none_items if got == "none")
    positives = [(it, got) for it, (got, _) in zip(items, answers) if it[2] == "positive"]
    detected = sum(1 for _, got in positives if got != "none")

    by_language = {}
    for language in sorted({it[4] for it in items}):
        pairs = [(it, got) for it, (got, _) in zip(items, answers) if it[4] == language]
        by_language[language] = {
            "items": len(pairs),
            "accuracy": ratio(sum(1 for it, got in pairs if it[1] == got), len(pairs)),
        }

    inconsistent = sum(
        1
        for category, severity in answers
        if (category == "none") != (severity == 0) or not 0 <= severity <= 5
    )
    hard = flagged_share("hard_negative")
    return {
        "items": len(items),
        "per_category": per_category,
        "macro_f1": macro_f1,
        "accuracy": ratio(sum(1 for it, (got, _) in zip(items, answers) if it[1] == got), len(items)),
        "none_accuracy": {"items": len(none_items), "correct": none_correct,
                          "rate": ratio(none_correct, len(none_items))},
        "positives_detected_any_category": {"items": len(positives), "detected": detected,
                                            "rate": ratio(detected, len(positives))},
        "hard_negatives_flagged": hard,
        "benign_flagged": flagged_share("benign"),
        "by_language": by_language,
        "severity_inconsistent": inconsistent,
        "targets": {
            "macro_f1": {"target": TARGET_MACRO_F1, "met": macro_f1 >= TARGET_MACRO_F1},
            "hard_negatives_flagged": {
                "target": TARGET_HARD_NEGATIVE_FLAGGED,
                "met": hard["items"] > 0 and hard["rate"] <= TARGET_HARD_NEGATIVE_FLAGGED,
            },
        },
    }


def errors_of(items, answers):
    return [
        {"text": it[0], "expected": it[1], "got": got, "severity": severity,
         "kind": it[2], "source": it[3], "language": it[4]}
        for it, (got, severity) in zip(items, answers)
        if it[1] != got
    ]


def render_table(split_name, figures):
    out = [f"Monitoring evaluation: {split_name} split, {figures['items']} items", ""]
    out.append(f"{'category':<30} {'support':>7} {'prec':>6} {'recall':>6} {'F1':>6}")
    for category in CATEGORIES:
        c = figures["per_category"][category]
        out.append(f"{category:<30} {c['support']:>7} {c['precision']:>6.3f} "
                   f"{c['recall']:>6.3f} {c['f1']:>6.3f}")
    out.append("")
    met = lambda key: "met" if figures["targets"][key]["met"] else "SHORT of target"  # noqa: E731
    hard = figures["hard_negatives_flagged"]
    benign = figures["benign_flagged"]
    none = figures["none_accuracy"]
    pos = figures["positives_detected_any_category"]
    out.append(f"macro-F1 (ten categories)        {figures['macro_f1']:.3f}   "
               f"target >= {TARGET_MACRO_F1}: {met('macro_f1')}")
    out.append(f"hard negatives flagged           {hard['rate']:.1%} ({hard['flagged']}/{hard['items']})   "
               f"target <= {TARGET_HARD_NEGATIVE_FLAGGED:.0%}: {met('hard_negatives_flagged')}")
    out.append(f"benign items flagged             {benign['rate']:.1%} ({benign['flagged']}/{benign['items']})")
    out.append(f"accuracy on none                 {none['rate']:.1%} ({none['correct']}/{none['items']})")
    out.append(f"positives flagged (any category) {pos['rate']:.1%} ({pos['detected']}/{pos['items']})")
    out.append(f"overall accuracy                 {figures['accuracy']:.1%}")
    for language, figs in figures["by_language"].items():
        out.append(f"accuracy, language {language:<13} {figs['accuracy']:.1%} ({figs['items']} items)")
    if figures["severity_inconsistent"]:
        out.append(f"warning: {figures['severity_inconsistent']} answers pair a category with an "
                   "impossible severity (none must be 0, others 1 to 5)")
    return "\n".join(out)


def render_errors(errors):
    out = ["", f"Misclassified items ({len(errors)}):",
           f"{'expected':<28} {'got':<28} {'kind':<13} {'source':<28} text"]
    for e in sorted(errors, key=lambda e: (e["expected"], e["got"], e["source"])):
        out.append(f"{e['expected']:<28} {e['got']:<28} {e['kind']:<13} {e['source']:<28} {e['text']}")
    return "\n".join(out)


def resolve_split(name):
    if name in ("dev", "test"):
        return EVAL_DIR / f"{name}.tsv"
    return Path(name)


def main(argv=None):
    parser = argparse.ArgumentParser(
        description="Precision, recall and F1 of `hedgerow monitor classify` on the evaluation set.")
    parser.add_argument("--split", default="test",
                        help="dev, test (default), or a path to a TSV file of the same format")
    parser.add_argument("--age-band", help="passed on to `hedgerow monitor classify --age-band`")
    parser.add_argument("--json", action="store_true", help="print figures as JSON")
    parser.add_argument("--errors", action="store_true", help="also list misclassified items")
    args = parser.parse_args(argv)

    path = resolve_split(args.split)
    try:
        items = parse_items(path.read_text(encoding="utf-8").splitlines())
    except OSError as error:
        print(f"cannot read the evaluation file {path}: {error.strerror}", file=sys.stderr)
        return 2
    except ItemError as error:
        print(f"{path}: {error}", file=sys.stderr)
        return 2
    if not items:
        print(f"{path}: no items to evaluate", file=sys.stderr)
        return 2
    try:
        answers = run_classifier([it[0] for it in items], args.age_band)
    except ClassifierError as error:
        print(f"classifier failed: {error}", file=sys.stderr)
        return 2

    figures = score(items, answers)
    if args.json:
        payload = {"split": args.split, "file": str(path), **figures}
        if args.errors:
            payload["errors"] = errors_of(items, answers)
        print(json.dumps(payload, indent=2, ensure_ascii=False))
    else:
        print(render_table(args.split, figures))
        if args.errors:
            print(render_errors(errors_of(items, answers)))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BrokenPipeError:
        # Output piped into `head` and cut short: not a failure of the evaluation.
        sys.stderr.close()
        sys.exit(0)

"""Tests for the monitoring evaluation set and its scoring script.

Run with: python3 -m unittest discover -s eval/monitoring/tests
They check the arithmetic against hand-worked figures, the refusal of malformed classifier
output, the determinism of the split, and that the committed set keeps the shape the
documentation promises (short texts, every category, enough hard negatives, Polish items),
and that each hold-out set (holdout.tsv, holdout2.tsv, holdout3.tsv) keeps that shape and
shares no row with the tuning set or an earlier hold-out set.
"""

import os
import sys
import unittest
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(REPO / "eval" / "monitoring"))
sys.path.insert(0, str(REPO / "scripts"))

import eval_monitoring  # noqa: E402
import split  # noqa: E402


def item(text, label, kind=None, language="en", source=None):
    kind = kind or ("positive" if label != "none" else "benign")
    return (text, label, kind, source or f"t:{text}", language)


class ScoreTests(unittest.TestCase):
    def test_precision_recall_f1_match_hand_worked_figures(self):
        items = [
            item("a", "drugs"), item("b", "drugs"), item("c", "drugs"),
            item("d", "none", "hard_negative"), item("e", "none", "hard_negative"),
            item("f", "none"), item("g", "gambling"),
        ]
        answers = [
            ("drugs", 3), ("drugs", 3), ("none", 0),      # 2 tp, 1 fn for drugs
            ("drugs", 2), ("none", 0),                     # 1 fp for drugs on a hard negative
            ("none", 0), ("gambling", 2),
        ]
        figures = eval_monitoring.score(items, answers)
        drugs = figures["per_category"]["drugs"]
        self.assertEqual((drugs["tp"], drugs["fp"], drugs["fn"]), (2, 1, 1))
        self.assertAlmostEqual(drugs["precision"], 2 / 3)
        self.assertAlmostEqual(drugs["recall"], 2 / 3)
        self.assertAlmostEqual(drugs["f1"], 2 / 3)
        self.assertAlmostEqual(figures["per_category"]["gambling"]["f1"], 1.0)
        # Eight categories have no items and no predictions: F1 0, so macro-F1 is (2/3 + 1)/10.
        self.assertAlmostEqual(figures["macro_f1"], (2 / 3 + 1.0) / 10)
        self.assertEqual(figures["hard_negatives_flagged"]["flagged"], 1)
        self.assertAlmostEqual(figures["hard_negatives_flagged"]["rate"], 0.5)
        self.assertEqual(figures["benign_flagged"]["flagged"], 0)
        self.assertAlmostEqual(figures["none_accuracy"]["rate"], 2 / 3)
        self.assertFalse(figures["targets"]["hard_negatives_flagged"]["met"])

    def test_wrong_category_counts_against_both_categories(self):
        figures = eval_monitoring.score([item("x", "hate")], [("bullying", 2)])
        self.assertEqual(figures["per_category"]["hate"]["fn"], 1)
        self.assertEqual(figures["per_category"]["bullying"]["fp"], 1)
        self.assertEqual(figures["positives_detected_any_category"]["detected"], 1)

    def test_impossible_severities_are_counted(self):
        figures = eval_monitoring.score(
            [item("x", "none"), item("y", "drugs"), item("z", "drugs")],
            [("none", 2), ("drugs", 0), ("drugs", 4)],
        )
        self.assertEqual(figures["severity_inconsistent"], 2)


class ClassifierProtocolTests(unittest.TestCase):
    def run_with(self, command, texts):
        previous = os.environ.get("HEDGEROW_CLASSIFY_CMD")
        os.environ["HEDGEROW_CLASSIFY_CMD"] = command
        try:
            return eval_monitoring.run_classifier(texts)
        finally:
            if previous is None:
                del os.environ["HEDGEROW_CLASSIFY_CMD"]
            else:
                os.environ["HEDGEROW_CLASSIFY_CMD"] = previous

    def python(self, body):
        return f"{sys.executable} -c '{body}'"

    def test_reads_answers_in_order(self):
        command = self.python(
            "import sys\n"
            "for l in sys.stdin:\n"
            "    t=l.rstrip(chr(10)); print(t+chr(9)+(\"drugs\" if \"weed\" in t else \"none\")+chr(9)+(\"3\" if \"weed\" in t else \"0\"))"
        )
        answers = self.run_with(command, ["buy weed", "maths homework", "zażółć gęślą jaźń"])
        self.assertEqual(answers, [("drugs", 3), ("none", 0), ("none", 0)])

    def test_failing_command_is_an_error(self):
        with self.assertRaisesRegex(eval_monitoring.ClassifierError, "exited with status 3"):
            self.run_with(self.python("import sys; sys.exit(3)"), ["a"])

    def test_missing_answer_lines_are_an_error(self):
        with self.assertRaisesRegex(eval_monitoring.ClassifierError, "wrote 0 lines for 2 texts"):
            self.run_with(self.python("import sys; sys.stdin.read()"), ["a", "b"])

    def test_unknown_category_is_an_error(self):
        command = self.python(
            "import sys\nfor l in sys.stdin: print(l.rstrip(chr(10))+chr(9)+\"violence\"+chr(9)+\"2\")"
        )
        with self.assertRaisesRegex(eval_monitoring.ClassifierError, "unknown category 'violence'"):
            self.run_with(command, ["a"])

    def test_answers_out_of_order_are_an_error(self):
        command = self.python(
            "import sys\nfor l in reversed(sys.stdin.readlines()): print(l.rstrip(chr(10))+chr(9)+\"none\"+chr(9)+\"0\")"
        )
        with self.assertRaisesRegex(eval_monitoring.ClassifierError, "input order"):
            self.run_with(command, ["first", "second"])


class ItemFormatTests(unittest.TestCase):
    def test_rejects_wrong_field_count_with_line_number(self):
        with self.assertRaisesRegex(split.ItemError, "line 2: expected 5"):
            split.parse_items(["# header", "text\tdrugs\tpositive\tsrc"])

    def test_rejects_kind_that_contradicts_label(self):
        with self.assertRaisesRegex(split.ItemError, "does not fit label"):
            split.parse_items(["weed\tnone\tpositive\ts:1\ten"])

    def test_rejects_duplicate_texts_ignoring_case(self):
        with self.assertRaisesRegex(split.ItemError, "same text"):
            split.parse_items(["Buy weed\tdrugs\tpositive\ts:1\ten", "buy WEED\tdrugs\tpositive\ts:2\ten"])


class SplitTests(unittest.TestCase):
    def setUp(self):
        self.items = split.parse_items(
            (REPO / "eval" / "monitoring" / "items.tsv").read_text(encoding="utf-8").splitlines()
        )

    def test_split_is_deterministic_and_a_partition(self):
        dev, test = split.split(self.items)
        dev_again, test_again = split.split(list(reversed(self.items)))
        self.assertEqual((dev, test), (dev_again, test_again))
        self.assertEqual(len(dev) + len(test), len(self.items))
        self.assertFalse({i[3] for i in dev} & {i[3] for i in test})
        self.assertAlmostEqual(len(dev) / len(self.items), split.DEV_SHARE, delta=0.03)

    def test_committed_splits_are_fresh(self):
        dev, test = split.split(self.items)
        for name, part in (("dev.tsv", dev), ("test.tsv", test)):
            on_disk = (REPO / "eval" / "monitoring" / name).read_text(encoding="utf-8")
            self.assertEqual(on_disk, split.render(part), f"{name} is stale; run split.py")

    def test_set_has_the_promised_shape(self):
        kinds = Counter(i[2] for i in self.items)
        self.assertGreaterEqual(kinds["hard_negative"], 300)
        self.assertGreaterEqual(kinds["benign"], 190)
        _, test = split.split(self.items)
        test_labels = Counter(i[1] for i in test)
        for category in eval_monitoring.CATEGORIES:
            self.assertGreaterEqual(test_labels[category], 20, category)
        languages = Counter(i[4] for i in test)
        self.assertGreaterEqual(languages["pl"], 30)
        long_texts = [i[0] for i in self.items if len(i[0].split()) > 15]
        self.assertEqual(long_texts, [])

    def test_sources_are_documented(self):
        sources_md = (REPO / "eval" / "monitoring" / "SOURCES.md").read_text(encoding="utf-8")
        prefixes = {i[3].split(":")[0] for i in self.items}
        for prefix in prefixes:
            self.assertIn(f"`{prefix}:", sources_md, f"source prefix {prefix} not in SOURCES.md")


def load_set(name):
    return split.parse_items((REPO / "eval" / "monitoring" / name).read_text(encoding="utf-8").splitlines())


class HoldoutShapeChecks:
    """Checks shared by every hold-out set: loadable, the promised shape, apart from earlier sets.

    A subclass names its file and the sets it must not share a row with: the tuning set, and
    every earlier hold-out set (whose errors may since have been read for tuning).
    """

    file_name = ""
    earlier_files = ()
    sources_heading = ""

    def setUp(self):
        self.holdout = load_set(self.file_name)
        self.earlier = [row for name in self.earlier_files for row in load_set(name)]

    def test_holdout_has_the_promised_shape(self):
        labels = Counter(i[1] for i in self.holdout)
        for category in eval_monitoring.CATEGORIES:
            self.assertGreaterEqual(labels[category], 25, category)
        kinds = Counter(i[2] for i in self.holdout)
        self.assertGreaterEqual(kinds["hard_negative"], 120)
        self.assertGreaterEqual(kinds["benign"], 60)
        polish_positives = [i for i in self.holdout if i[4] == "pl" and i[2] == "positive"]
        self.assertGreaterEqual(len(polish_positives), 25)
        long_texts = [i[0] for i in self.holdout if len(i[0].split()) > 15]
        self.assertEqual(long_texts, [])

    def test_holdout_shares_no_item_with_earlier_sets(self):
        # A row in both files would have been seen while tuning, so it could not measure
        # performance on unseen data.
        shared_sources = {i[3] for i in self.holdout} & {i[3] for i in self.earlier}
        self.assertEqual(shared_sources, set())
        earlier_texts = {i[0].casefold() for i in self.earlier}
        shared_texts = [i[0] for i in self.holdout if i[0].casefold() in earlier_texts]
        self.assertEqual(shared_texts, [])

    def test_holdout_sources_are_documented(self):
        sources_md = (REPO / "eval" / "monitoring" / "SOURCES.md").read_text(encoding="utf-8")
        self.assertIn(self.sources_heading, sources_md)
        for prefix in {i[3].split(":")[0] for i in self.holdout}:
            self.assertIn(f"`{prefix}:", sources_md, f"source prefix {prefix} not in SOURCES.md")


class HoldoutTests(HoldoutShapeChecks, unittest.TestCase):
    """The first hold-out set stays apart from items.tsv."""

    file_name = "holdout.tsv"
    earlier_files = ("items.tsv",)
    sources_heading = "## Hold-out set"


class SecondHoldoutTests(HoldoutShapeChecks, unittest.TestCase):
    """The second hold-out set stays apart from items.tsv and from the first hold-out set."""

    file_name = "holdout2.tsv"
    earlier_files = ("items.tsv", "holdout.tsv")
    sources_heading = "## Second hold-out set"

    def test_each_category_has_thirty_positives(self):
        labels = Counter(i[1] for i in self.holdout if i[2] == "positive")
        self.assertEqual({c: labels[c] for c in eval_monitoring.CATEGORIES},
                         {c: 30 for c in eval_monitoring.CATEGORIES})


class ThirdHoldoutTests(HoldoutShapeChecks, unittest.TestCase):
    """The third hold-out set stays apart from items.tsv and from both earlier hold-out sets."""

    file_name = "holdout3.tsv"
    earlier_files = ("items.tsv", "holdout.tsv", "holdout2.tsv")
    sources_heading = "## Third hold-out set"

    def test_each_category_has_thirty_positives(self):
        labels = Counter(i[1] for i in self.holdout if i[2] == "positive")
        self.assertEqual({c: labels[c] for c in eval_monitoring.CATEGORIES},
                         {c: 30 for c in eval_monitoring.CATEGORIES})

    def test_every_category_has_polish_positives(self):
        # About a tenth Polish in every category, so the Polish phrases are measured per
        # category and not only where they happen to be easy to write.
        polish = Counter(i[1] for i in self.holdout if i[2] == "positive" and i[4] == "pl")
        for category in eval_monitoring.CATEGORIES:
            self.assertGreaterEqual(polish[category], 3, category)


class HoldoutCheckCanFailTests(unittest.TestCase):
    """The overlap check must notice a row copied from any earlier set."""

    def test_copied_row_is_reported(self):
        checks = SecondHoldoutTests("test_holdout_shares_no_item_with_earlier_sets")
        checks.setUp()
        checks.holdout = checks.holdout + [checks.earlier[0]]
        with self.assertRaises(AssertionError):
            checks.test_holdout_shares_no_item_with_earlier_sets()

    def test_text_copied_from_the_last_earlier_set_under_a_new_id_is_reported(self):
        # The last file listed is holdout2.tsv: a text copied from it, given a fresh source
        # id and a different case, must still be caught by the text comparison.
        checks = ThirdHoldoutTests("test_holdout_shares_no_item_with_earlier_sets")
        checks.setUp()
        copied_text = load_set("holdout2.tsv")[-1][0].upper()
        checks.holdout = checks.holdout + [(copied_text, "none", "benign", "holdout3:copy:1", "en")]
        with self.assertRaises(AssertionError):
            checks.test_holdout_shares_no_item_with_earlier_sets()


if __name__ == "__main__":
    unittest.main()

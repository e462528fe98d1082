//! Properties of small-count suppression: every shown count is 0 or at least the threshold
//! and is the true count, and no hidden count can be worked out from the others and a shown
//! total. The second is checked by brute force over every value a reader could assign to the
//! hidden cells, independently of how the crate decides it.

use hedgerow_report::{Shown, SuppressionPolicy, suppress, suppress_group};
use proptest::prelude::*;

/// Mostly small counts, where suppression matters, with some large ones.
fn cells() -> impl Strategy<Value = Vec<u64>> {
    prop::collection::vec(
        prop_oneof![4 => 0u64..=6, 2 => 0u64..=20, 1 => 20u64..=60],
        0..9,
    )
}

/// For each hidden cell, how many values a reader who knows the shown cells, the shown total
/// and what the marks mean could still give it.
fn possible_values(cells: &[u64], shown: &[Shown], total: u64, threshold: u64) -> Vec<usize> {
    let shown_sum: u64 = cells
        .iter()
        .zip(shown)
        .filter(|(_, s)| !s.is_hidden())
        .map(|(n, _)| n)
        .sum();
    let remaining = usize::try_from(total - shown_sum).unwrap();
    let t = usize::try_from(threshold).unwrap();
    let ranges: Vec<(usize, usize)> = shown
        .iter()
        .filter_map(|s| match s {
            Shown::Count(_) => None,
            Shown::Suppressed => Some((1, t - 1)),
            Shown::Withheld => Some((t, remaining.max(t))),
        })
        .collect();
    (0..ranges.len())
        .map(|i| {
            // Sums the other hidden cells can make, each within its range.
            let mut reachable = vec![false; remaining + 1];
            reachable[0] = true;
            for (j, &(low, high)) in ranges.iter().enumerate() {
                if j == i {
                    continue;
                }
                let mut next = vec![false; remaining + 1];
                for (sum, _) in reachable.iter().enumerate().filter(|(_, r)| **r) {
                    for v in low..=high {
                        if sum + v <= remaining {
                            next[sum + v] = true;
                        }
                    }
                }
                reachable = next;
            }
            let (low, high) = ranges[i];
            (low..=high.min(remaining))
                .filter(|v| reachable[remaining - v])
                .count()
        })
        .collect()
}

proptest! {
    #[test]
    fn shown_counts_are_true_and_never_small(
        cells in cells(),
        total_shown in any::<bool>(),
        threshold in 2u64..=7,
    ) {
        let policy = SuppressionPolicy::new(threshold);
        let shown = suppress(&cells, total_shown, policy);
        prop_assert_eq!(shown.len(), cells.len());
        for (&n, s) in cells.iter().zip(&shown) {
            match s {
                Shown::Count(c) => {
                    prop_assert_eq!(*c, n);
                    prop_assert!(n == 0 || n >= threshold);
                }
                Shown::Suppressed => prop_assert!(n >= 1 && n < threshold),
                Shown::Withheld => prop_assert!(n >= threshold),
            }
        }
    }

    #[test]
    fn no_hidden_cell_follows_from_a_shown_total(cells in cells(), threshold in 2u64..=7) {
        let policy = SuppressionPolicy::new(threshold);
        let group = suppress_group(&cells, policy);
        let sum: u64 = cells.iter().sum();
        match group.total {
            Shown::Count(total) => {
                prop_assert_eq!(total, sum);
                prop_assert!(total == 0 || total >= threshold);
                let choices = possible_values(&cells, &group.cells, total, threshold);
                for (i, n) in choices.iter().enumerate() {
                    prop_assert!(*n >= 2, "hidden cell {i} of {cells:?} shown as {:?} has {n} possible values", group.cells);
                }
            }
            Shown::Suppressed => prop_assert!(sum >= 1 && sum < threshold),
            Shown::Withheld => prop_assert!(sum >= threshold),
        }
        for (&n, s) in cells.iter().zip(&group.cells) {
            if let Shown::Count(c) = s {
                prop_assert!(*c == n && (n == 0 || n >= threshold));
            }
        }
    }

    #[test]
    fn the_threshold_is_never_below_two(threshold in any::<u64>()) {
        let policy = SuppressionPolicy::new(threshold);
        prop_assert!(policy.threshold() >= 2);
        prop_assert_eq!(suppress(&[1], false, policy), vec![Shown::Suppressed]);
    }
}

//! Small-count suppression for the governors' termly report, so that no child can be
//! identified from its figures.
//!
//! A count from 1 to one below the threshold is shown as "<5" (for the default threshold of
//! 5). That alone is not enough when a group's total is shown too: with one hidden cell, the
//! total minus the others gives it back; with two hidden cells of 1 each, a total that leaves
//! 2 for both gives them back as well. So, while any hidden cell could still be worked out
//! from the shown total, the others and what "<5" tells a reader, the next smallest shown
//! cell is withheld as well. A withheld cell is one of 5 or more, hidden only to protect a
//! smaller one; it is marked differently so the report never says "<5" of a larger number.

/// How small a count must be to be hidden.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SuppressionPolicy {
    threshold: u64,
}

impl SuppressionPolicy {
    /// The smallest threshold allowed: below 2, a count of 1 would be shown.
    pub const MINIMUM_THRESHOLD: u64 = 2;
    /// The usual threshold: counts of 1 to 4 are hidden.
    pub const DEFAULT_THRESHOLD: u64 = 5;

    /// A policy hiding counts from 1 to `threshold - 1`; a threshold below 2 is raised to 2.
    pub const fn new(threshold: u64) -> Self {
        let threshold = if threshold < Self::MINIMUM_THRESHOLD {
            Self::MINIMUM_THRESHOLD
        } else {
            threshold
        };
        SuppressionPolicy { threshold }
    }

    pub const fn threshold(self) -> u64 {
        self.threshold
    }

    /// What a suppressed count says: "<5" for the default threshold.
    pub fn marker(self) -> String {
        format!("<{}", self.threshold)
    }
}

impl Default for SuppressionPolicy {
    fn default() -> Self {
        SuppressionPolicy::new(Self::DEFAULT_THRESHOLD)
    }
}

/// One count as the report shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shown {
    /// Shown as it is: zero, or at least the threshold.
    Count(u64),
    /// From 1 to threshold - 1, shown as "<5".
    Suppressed,
    /// At least the threshold, hidden so that a suppressed count beside it cannot be worked
    /// out from the total.
    Withheld,
}

impl Shown {
    pub fn is_hidden(self) -> bool {
        !matches!(self, Shown::Count(_))
    }
}

/// A group of counts and its total, as shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShownGroup {
    pub cells: Vec<Shown>,
    pub total: Shown,
}

/// Hides the small counts among `cells`; when `total_shown`, also withholds the next smallest
/// shown counts until no hidden count can be worked out from the total. If that cannot be
/// done (every cell is hidden and one still follows), the total must not be shown:
/// [`suppress_group`] makes that decision and is what a table with a total row should use.
pub fn suppress(cells: &[u64], total_shown: bool, policy: SuppressionPolicy) -> Vec<Shown> {
    let threshold = policy.threshold();
    let mut shown: Vec<Shown> = cells
        .iter()
        .map(|&n| {
            if n > 0 && n < threshold {
                Shown::Suppressed
            } else {
                Shown::Count(n)
            }
        })
        .collect();
    if !total_shown {
        return shown;
    }
    while !hidden_cells_are_safe(cells, &shown, threshold) {
        let next_smallest = shown
            .iter()
            .enumerate()
            .filter_map(|(i, s)| match s {
                Shown::Count(n) if *n > 0 => Some((*n, i)),
                _ => None,
            })
            .min();
        match next_smallest.and_then(|(_, i)| shown.get_mut(i)) {
            Some(cell) => *cell = Shown::Withheld,
            None => break,
        }
    }
    shown
}

/// Hides small counts in a group and decides how its total is shown: suppressed when it is
/// small itself, withheld when showing it would give a hidden cell away.
pub fn suppress_group(cells: &[u64], policy: SuppressionPolicy) -> ShownGroup {
    let total = cells.iter().fold(0u64, |sum, &n| sum.saturating_add(n));
    let threshold = policy.threshold();
    if total > 0 && total < threshold {
        return ShownGroup {
            cells: suppress(cells, false, policy),
            total: Shown::Suppressed,
        };
    }
    let with_total = suppress(cells, true, policy);
    if hidden_cells_are_safe(cells, &with_total, threshold) {
        ShownGroup {
            cells: with_total,
            total: Shown::Count(total),
        }
    } else {
        ShownGroup {
            cells: suppress(cells, false, policy),
            total: Shown::Withheld,
        }
    }
}

/// Shows one count on its own, with no total beside it.
pub fn suppress_one(count: u64, policy: SuppressionPolicy) -> Shown {
    if count > 0 && count < policy.threshold() {
        Shown::Suppressed
    } else {
        Shown::Count(count)
    }
}

/// Whether a reader who sees the shown cells and the total, and knows that "<5" means 1 to
/// 4 and "withheld" means 5 or more, is left with at least two possible values for every
/// hidden cell. The hidden cells add up to `remaining`; each lies in its range, so cell i
/// can be anything from `remaining - (the others' highest)` to `remaining - (the others'
/// lowest)`, within its own range.
fn hidden_cells_are_safe(cells: &[u64], shown: &[Shown], threshold: u64) -> bool {
    let total: i128 = cells.iter().map(|&n| i128::from(n)).sum();
    let shown_sum: i128 = shown
        .iter()
        .map(|s| match s {
            Shown::Count(n) => i128::from(*n),
            _ => 0,
        })
        .sum();
    let remaining = total - shown_sum;
    let threshold = i128::from(threshold);
    let ranges: Vec<(i128, i128)> = shown
        .iter()
        .filter_map(|s| match s {
            Shown::Count(_) => None,
            Shown::Suppressed => Some((1, threshold - 1)),
            Shown::Withheld => Some((threshold, remaining.max(threshold))),
        })
        .collect();
    let lowest: i128 = ranges.iter().map(|r| r.0).sum();
    let highest: i128 = ranges.iter().map(|r| r.1).sum();
    ranges.iter().all(|&(low, high)| {
        let from = low.max(remaining - (highest - high));
        let to = high.min(remaining - (lowest - low));
        to > from
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use Shown::{Count, Suppressed, Withheld};

    const FIVE: SuppressionPolicy = SuppressionPolicy::new(5);

    #[test]
    fn threshold_is_never_below_two() {
        assert_eq!(SuppressionPolicy::new(0).threshold(), 2);
        assert_eq!(SuppressionPolicy::new(1).threshold(), 2);
        assert_eq!(SuppressionPolicy::new(10).threshold(), 10);
        assert_eq!(SuppressionPolicy::default().threshold(), 5);
        assert_eq!(SuppressionPolicy::default().marker(), "<5");
    }

    #[test]
    fn small_counts_are_hidden_and_zero_is_shown() {
        assert_eq!(
            suppress(&[0, 1, 4, 5, 12], false, FIVE),
            [Count(0), Suppressed, Suppressed, Count(5), Count(12)]
        );
    }

    #[test]
    fn one_hidden_cell_beside_a_total_takes_the_next_smallest_with_it() {
        assert_eq!(
            suppress(&[3, 10, 7, 0], true, FIVE),
            [Suppressed, Count(10), Withheld, Count(0)]
        );
    }

    #[test]
    fn two_ones_beside_a_total_are_protected_too() {
        // 1 and 1 would be given away: the total leaves 2 for two cells of at least 1.
        let group = suppress_group(&[1, 1, 10], FIVE);
        assert_eq!(group.cells, [Suppressed, Suppressed, Withheld]);
        assert_eq!(group.total, Count(12));
    }

    #[test]
    fn a_total_that_would_give_a_cell_away_is_withheld() {
        // 1 + 5: with both hidden, a total of 6 still leaves only 1 and 5.
        let group = suppress_group(&[1, 5], FIVE);
        assert_eq!(group.cells, [Suppressed, Count(5)]);
        assert_eq!(group.total, Withheld);
    }

    #[test]
    fn a_small_total_is_suppressed() {
        let group = suppress_group(&[2, 0, 1], FIVE);
        assert_eq!(group.cells, [Suppressed, Count(0), Suppressed]);
        assert_eq!(group.total, Suppressed);
        assert_eq!(suppress_group(&[0, 0], FIVE).total, Count(0));
        assert_eq!(suppress_group(&[], FIVE).total, Count(0));
    }

    #[test]
    fn large_groups_show_everything() {
        let group = suppress_group(&[5, 9, 0, u64::MAX], FIVE);
        assert_eq!(group.cells, [Count(5), Count(9), Count(0), Count(u64::MAX)]);
        assert_eq!(group.total, Count(u64::MAX));
    }
}

//! Burst detection: many blocked attempts by one person in one category within a few minutes
//! become one alert, even when no single attempt says anything alarming.
//!
//! State is kept per (person, category) and is bounded twice over: each key holds fewer than
//! the rule's count of timestamps, and at most `max_keys` keys are held (the least recently
//! observed is forgotten first), so a flood of devices cannot exhaust memory.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;

use jiff::{SignedDuration, Timestamp};

/// Who did something: the signed-in user when known, else the device's address.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PersonKey {
    User(String),
    Address(IpAddr),
}

/// "`count` blocked attempts within `window`" makes a burst.
///
/// A count of 0 turns burst alerts off for the category; a count of 1 makes every attempt one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BurstRule {
    pub count: u32,
    pub window: SignedDuration,
}

impl Default for BurstRule {
    /// Five blocked attempts in ten minutes.
    fn default() -> Self {
        BurstRule {
            count: 5,
            window: SignedDuration::from_mins(10),
        }
    }
}

/// A burst that has just reached its rule's count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Burst {
    pub category: String,
    /// How many attempts fell inside the window (the rule's count).
    pub count: u32,
    pub first_at: Timestamp,
    pub last_at: Timestamp,
}

#[derive(Debug)]
struct KeyState {
    /// Attempts not yet part of a burst, oldest first; fewer than the rule's count.
    times: Vec<Timestamp>,
    /// The last attempt of the previous burst: attempts arriving late from before it were
    /// already counted (or were part of that episode), so they must not start a second alert.
    counted_until: Option<Timestamp>,
    /// When this key was last observed, in observation order, for eviction.
    tick: u64,
}

/// Counts blocked attempts per person and category and reports bursts.
#[derive(Debug)]
pub struct BurstDetector {
    default_rule: BurstRule,
    per_category: HashMap<String, BurstRule>,
    max_keys: usize,
    keys: HashMap<(PersonKey, String), KeyState>,
    by_tick: BTreeMap<u64, (PersonKey, String)>,
    next_tick: u64,
}

impl BurstDetector {
    /// A detector using `default` for every category not named in `per_category`, holding at
    /// most `max_keys` (person, category) pairs (at least one).
    pub fn new(
        default: BurstRule,
        per_category: HashMap<String, BurstRule>,
        max_keys: usize,
    ) -> Self {
        BurstDetector {
            default_rule: default,
            per_category,
            max_keys: max_keys.max(1),
            keys: HashMap::new(),
            by_tick: BTreeMap::new(),
            next_tick: 0,
        }
    }

    /// The rule that applies to `category`.
    pub fn rule_for(&self, category: &str) -> BurstRule {
        self.per_category
            .get(category)
            .copied()
            .unwrap_or(self.default_rule)
    }

    /// How many (person, category) pairs are held now.
    pub fn tracked_keys(&self) -> usize {
        self.keys.len()
    }

    /// Records one blocked attempt. Returns the burst the moment the attempts inside one
    /// window reach the rule's count; the count then starts again for this person and
    /// category, so one burst gives one alert and a later burst another.
    ///
    /// Attempts may arrive out of order (the DNS filter and the proxy report separately).
    pub fn observe(&mut self, person: &PersonKey, category: &str, at: Timestamp) -> Option<Burst> {
        let rule = self.rule_for(category);
        if rule.count == 0 {
            return None;
        }
        let key = (person.clone(), category.to_string());
        let tick = self.next_tick;
        self.next_tick = self.next_tick.wrapping_add(1);

        if !self.keys.contains_key(&key) {
            while self.keys.len() >= self.max_keys {
                let Some((_, oldest)) = self.by_tick.pop_first() else {
                    break;
                };
                self.keys.remove(&oldest);
            }
            self.keys.insert(
                key.clone(),
                KeyState {
                    times: Vec::new(),
                    counted_until: None,
                    tick,
                },
            );
        }
        let state = self.keys.get_mut(&key)?;
        self.by_tick.remove(&state.tick);
        state.tick = tick;
        self.by_tick.insert(tick, key);

        if state.counted_until.is_some_and(|until| at <= until) {
            return None;
        }
        let position = state.times.partition_point(|t| *t <= at);
        state.times.insert(position, at);

        let window = rule.window.max(SignedDuration::ZERO);
        let needed = usize::try_from(rule.count).unwrap_or(usize::MAX);
        if let Some((first, last)) = window_reaching(&state.times, at, window, needed) {
            state.times.clear();
            state.counted_until = Some(last);
            return Some(Burst {
                category: category.to_string(),
                count: rule.count,
                first_at: first,
                last_at: last,
            });
        }

        // Attempts further back than one window before the newest can no longer share a
        // window with anything still to come that is not itself more than a window late.
        if let Some(newest) = state.times.last().copied() {
            let keep_from = newest.checked_sub(window).unwrap_or(Timestamp::MIN);
            state.times.retain(|t| *t >= keep_from);
        }
        // Never hold more than the count needs: the oldest extra could only matter to an
        // attempt arriving more than a window late.
        let excess = state.times.len().saturating_sub(needed.saturating_sub(1));
        if excess > 0 {
            state.times.drain(..excess);
        }
        None
    }
}

/// Among sorted `times`, the earliest window of width `window` that contains `at` and at least
/// `needed` attempts, as (first attempt, last attempt) of the `needed` attempts in it.
fn window_reaching(
    times: &[Timestamp],
    at: Timestamp,
    window: SignedDuration,
    needed: usize,
) -> Option<(Timestamp, Timestamp)> {
    if needed == 0 || times.len() < needed {
        return None;
    }
    for (start, first) in times.iter().enumerate() {
        let end = start + needed - 1;
        let last = *times.get(end)?;
        let fits = last.duration_since(*first) <= window;
        if fits && *first <= at && at <= last {
            return Some((*first, last));
        }
    }
    None
}

/// The risk category that blocked attempts on a filtering list count towards, for bursts.
///
/// Takes either a source list's name (UT1 and Block List Project names, as in
/// `lists/taxonomy.toml`) or a Hedgerow filtering category key, case-insensitively. Lists with
/// no safeguarding meaning (games, shopping, streaming...) give `None`. Judgements:
///
/// - `agressif` is UT1's list of aggressive, racist and hateful sites, so `hate`, although the
///   taxonomy files it under Hedgerow's broader `violence` category (which gives
///   `weapons_violence`).
/// - `dating` gives `grooming_sexual_exploitation`: repeated attempts by a pupil to reach adult
///   dating sites are a contact risk, not a content one. Schools that disagree leave it out of
///   the set of categories counted.
/// - The illegal-content lists count too: attempts on the IWF list give
///   `grooming_sexual_exploitation`, on the CTIRU list `radicalisation`.
/// - `mixed_adult` and `lingerie` (adult themes) do not count: they catch too much that is
///   merely suggestive; `adult` does.
/// - No list covers `eating_disorder` or `bullying`; Hedgerow's `self-harm` category covers
///   eating disorders too, and counts as `suicide_self_harm`, the more urgent of the two.
pub fn burst_category_for(list_category: &str) -> Option<&'static str> {
    let name = list_category.trim().to_ascii_lowercase();
    let name = name
        .strip_suffix(".domains")
        .or_else(|| name.strip_suffix(".urls"))
        .unwrap_or(&name);
    let risk = match name {
        "adult" | "porn" | "pornography" => "pornography",
        "gambling" | "arjel" => "gambling",
        "drugs" | "drogue" | "blp_drugs" | "blp_vaping" => "drugs",
        "agressif" | "hate" | "hate-speech" | "discrimination" => "hate",
        "self-harm" | "selfharm" | "self_harm" | "suicide" => "suicide_self_harm",
        "weapons" | "dangerous_material" | "violence" => "weapons_violence",
        "extremism" | "radicalisation" | "radicalization" | "ctiru" | "ctiru-test"
        | "illegal-terrorism" => "radicalisation",
        "dating" | "iwf" | "iwf-test" | "illegal-child-abuse" => "grooming_sexual_exploitation",
        _ => return None,
    };
    Some(risk)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn t(minutes: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + minutes * 60).unwrap_or(Timestamp::UNIX_EPOCH)
    }

    fn pupil(name: &str) -> PersonKey {
        PersonKey::User(name.to_string())
    }

    fn three_in_five() -> BurstDetector {
        BurstDetector::new(
            BurstRule {
                count: 3,
                window: SignedDuration::from_mins(5),
            },
            HashMap::new(),
            100,
        )
    }

    #[test]
    fn a_burst_is_reported_the_moment_the_count_is_reached() {
        let mut detector = three_in_five();
        let p = pupil("amira.k");
        assert_eq!(detector.observe(&p, "gambling", t(0)), None);
        assert_eq!(detector.observe(&p, "gambling", t(2)), None);
        let burst = detector
            .observe(&p, "gambling", t(4))
            .expect("third in window");
        assert_eq!(
            burst,
            Burst {
                category: "gambling".into(),
                count: 3,
                first_at: t(0),
                last_at: t(4)
            }
        );
    }

    #[test]
    fn attempts_spread_wider_than_the_window_are_not_a_burst() {
        let mut detector = three_in_five();
        let p = pupil("amira.k");
        for minute in [0, 3, 6, 9, 12, 15] {
            assert_eq!(
                detector.observe(&p, "gambling", t(minute)),
                None,
                "{minute}"
            );
        }
    }

    #[test]
    fn one_burst_gives_one_alert_and_a_later_burst_another() {
        let mut detector = three_in_five();
        let p = pupil("amira.k");
        let mut bursts = 0;
        for minute in 0..6 {
            bursts += usize::from(detector.observe(&p, "drugs", t(minute)).is_some());
        }
        // Six attempts in six minutes: the third completes one burst, the sixth the next.
        assert_eq!(bursts, 2);
    }

    #[test]
    fn people_and_categories_are_counted_apart() {
        let mut detector = three_in_five();
        let a = pupil("amira.k");
        let b = PersonKey::Address("10.1.2.3".parse().unwrap());
        assert_eq!(detector.observe(&a, "drugs", t(0)), None);
        assert_eq!(detector.observe(&b, "drugs", t(0)), None);
        assert_eq!(detector.observe(&a, "gambling", t(1)), None);
        assert_eq!(detector.observe(&b, "drugs", t(1)), None);
        assert_eq!(detector.observe(&a, "drugs", t(1)), None);
        assert!(detector.observe(&b, "drugs", t(2)).is_some());
    }

    #[test]
    fn out_of_order_attempts_count_where_they_belong() {
        let mut detector = three_in_five();
        let p = pupil("amira.k");
        assert_eq!(detector.observe(&p, "hate", t(10)), None);
        assert_eq!(detector.observe(&p, "hate", t(14)), None);
        let burst = detector
            .observe(&p, "hate", t(12))
            .expect("late arrival completes it");
        assert_eq!((burst.first_at, burst.last_at), (t(10), t(14)));
        // A straggler from inside the burst just reported does not start another.
        assert_eq!(detector.observe(&p, "hate", t(11)), None);
        assert_eq!(detector.observe(&p, "hate", t(13)), None);
        assert_eq!(detector.observe(&p, "hate", t(15)), None);
    }

    #[test]
    fn per_category_rules_override_the_default() {
        let mut per_category = HashMap::new();
        per_category.insert(
            "suicide_self_harm".to_string(),
            BurstRule {
                count: 1,
                window: SignedDuration::ZERO,
            },
        );
        per_category.insert(
            "gambling".to_string(),
            BurstRule {
                count: 0,
                window: SignedDuration::from_mins(5),
            },
        );
        let mut detector = BurstDetector::new(BurstRule::default(), per_category, 10);
        let p = pupil("amira.k");
        assert!(detector.observe(&p, "suicide_self_harm", t(0)).is_some());
        for minute in 0..20 {
            assert_eq!(detector.observe(&p, "gambling", t(minute)), None);
        }
        assert_eq!(detector.rule_for("drugs"), BurstRule::default());
    }

    #[test]
    fn the_least_recently_seen_key_is_forgotten_first() {
        let mut detector = BurstDetector::new(
            BurstRule {
                count: 2,
                window: SignedDuration::from_mins(5),
            },
            HashMap::new(),
            2,
        );
        let (a, b, c) = (pupil("a"), pupil("b"), pupil("c"));
        assert_eq!(detector.observe(&a, "drugs", t(0)), None);
        assert_eq!(detector.observe(&b, "drugs", t(0)), None);
        assert_eq!(detector.observe(&c, "drugs", t(0)), None);
        assert_eq!(detector.tracked_keys(), 2);
        // `a` was forgotten, so its second attempt starts afresh; `b` and `c` were kept.
        assert_eq!(detector.observe(&a, "drugs", t(1)), None);
        assert_eq!(detector.tracked_keys(), 2);
        assert!(detector.observe(&c, "drugs", t(1)).is_some());
    }

    #[test]
    fn list_categories_map_onto_risk_categories() {
        assert_eq!(burst_category_for("adult"), Some("pornography"));
        assert_eq!(burst_category_for("ADULT.domains"), Some("pornography"));
        assert_eq!(burst_category_for("arjel"), Some("gambling"));
        assert_eq!(burst_category_for("blp_drugs"), Some("drugs"));
        assert_eq!(burst_category_for("drogue"), Some("drugs"));
        assert_eq!(burst_category_for("agressif"), Some("hate"));
        assert_eq!(burst_category_for("self-harm"), Some("suicide_self_harm"));
        assert_eq!(
            burst_category_for("dangerous_material"),
            Some("weapons_violence")
        );
        assert_eq!(burst_category_for("extremism"), Some("radicalisation"));
        assert_eq!(
            burst_category_for("dating"),
            Some("grooming_sexual_exploitation")
        );
        for harmless in [
            "games",
            "shopping",
            "audio-video",
            "mixed_adult",
            "",
            "press",
        ] {
            assert_eq!(burst_category_for(harmless), None, "{harmless}");
        }
    }

    proptest! {
        /// Whatever order attempts arrive in, memory stays bounded and every reported burst
        /// holds exactly the rule's count within the window.
        #[test]
        fn bursts_are_well_formed_and_memory_bounded(
            attempts in proptest::collection::vec((0u8..6, 0i64..120), 0..300),
            count in 1u32..6,
            window_mins in 0i64..15,
        ) {
            let rule = BurstRule { count, window: SignedDuration::from_mins(window_mins) };
            let mut detector = BurstDetector::new(rule, HashMap::new(), 4);
            for (who, minute) in attempts {
                let person = PersonKey::User(format!("p{who}"));
                if let Some(burst) = detector.observe(&person, "drugs", t(minute)) {
                    prop_assert_eq!(burst.count, count);
                    prop_assert!(burst.first_at <= burst.last_at);
                    prop_assert!(burst.last_at.duration_since(burst.first_at) <= rule.window);
                }
                prop_assert!(detector.tracked_keys() <= 4);
                for state in detector.keys.values() {
                    prop_assert!(state.times.len() < count as usize);
                }
            }
        }

        /// In-order attempts at one-minute spacing with a window wide enough: every
        /// `count`-th attempt is a burst, none in between.
        #[test]
        fn steady_attempts_burst_every_count(count in 1u32..8, total in 0i64..60) {
            let rule = BurstRule { count, window: SignedDuration::from_mins(i64::from(count)) };
            let mut detector = BurstDetector::new(rule, HashMap::new(), 4);
            let person = pupil("steady");
            for minute in 0..total {
                let burst = detector.observe(&person, "gambling", t(minute));
                prop_assert_eq!(burst.is_some(), (minute + 1) % i64::from(count) == 0);
            }
        }
    }
}

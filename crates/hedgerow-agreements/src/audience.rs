//! Who an agreement is for, and which audience a filtering group's people belong to.

/// Who an agreement is written for. Each school has one current agreement per audience.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Audience {
    EyfsKs1,
    Ks2,
    Staff,
    Governors,
    Visitors,
    Parents,
    SocialMedia,
}

impl Audience {
    /// Every audience, in the order the admin app lists them.
    pub const ALL: [Audience; 7] = [
        Audience::EyfsKs1,
        Audience::Ks2,
        Audience::Staff,
        Audience::Governors,
        Audience::Visitors,
        Audience::Parents,
        Audience::SocialMedia,
    ];

    /// The key stored in the database and used in URLs and the configuration.
    pub fn key(self) -> &'static str {
        match self {
            Audience::EyfsKs1 => "eyfs-ks1",
            Audience::Ks2 => "ks2",
            Audience::Staff => "staff",
            Audience::Governors => "governors",
            Audience::Visitors => "visitors",
            Audience::Parents => "parents",
            Audience::SocialMedia => "social-media",
        }
    }

    /// The audience with this key, or `None` for anything else (keys are exact).
    pub fn parse(key: &str) -> Option<Audience> {
        Audience::ALL
            .into_iter()
            .find(|audience| audience.key() == key)
    }

    /// The name shown to people.
    pub fn label(self) -> &'static str {
        match self {
            Audience::EyfsKs1 => "EYFS and KS1 pupils",
            Audience::Ks2 => "KS2 pupils",
            Audience::Staff => "Staff",
            Audience::Governors => "Governors",
            Audience::Visitors => "Visitors and community users",
            Audience::Parents => "Parents and carers",
            Audience::SocialMedia => "Staff running official social media accounts",
        }
    }

    /// The audience of a filtering group's people, from the group's kind (`pupil`, `staff`,
    /// `visitor`, `unidentified`), key and name. Pupil groups for the youngest children are
    /// recognised by words schools use for them in either the key or the name; any other
    /// pupil group is taken to be KS2, and anything that is neither pupils nor staff is
    /// treated as visitors, who read the visitor agreement.
    pub fn for_group(kind: &str, key: &str, name: &str) -> Audience {
        match kind {
            "pupil" => {
                let words = format!("{} {}", key, name).to_lowercase();
                let youngest = ["eyfs", "ks1", "reception", "infant", "nursery"];
                if youngest.iter().any(|word| words.contains(word)) {
                    Audience::EyfsKs1
                } else {
                    Audience::Ks2
                }
            }
            "staff" => Audience::Staff,
            _ => Audience::Visitors,
        }
    }

    /// Whether the audience is children, whose agreement a parent or carer co-signs.
    pub fn is_pupil(self) -> bool {
        matches!(self, Audience::EyfsKs1 | Audience::Ks2)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_parse_back_and_nothing_else_does() {
        for audience in Audience::ALL {
            assert_eq!(Audience::parse(audience.key()), Some(audience));
        }
        for unknown in ["", "KS2", "ks2 ", "eyfs", "pupils", "social_media"] {
            assert_eq!(Audience::parse(unknown), None, "{unknown:?}");
        }
    }

    #[test]
    fn keys_and_labels_are_distinct() {
        let keys: std::collections::BTreeSet<_> = Audience::ALL.map(Audience::key).into();
        let labels: std::collections::BTreeSet<_> = Audience::ALL.map(Audience::label).into();
        assert_eq!(keys.len(), Audience::ALL.len());
        assert_eq!(labels.len(), Audience::ALL.len());
        assert_eq!(Audience::EyfsKs1.label(), "EYFS and KS1 pupils");
        assert_eq!(
            Audience::SocialMedia.label(),
            "Staff running official social media accounts"
        );
    }

    #[test]
    fn the_youngest_pupils_are_recognised_by_key_or_name() {
        let cases = [
            ("eyfs", "Foundation"),
            ("early-years", "EYFS"),
            ("ks1", "Years 1 and 2"),
            ("infants", "Infants"),
            ("rec", "Reception class"),
            ("class-1", "Nursery"),
            ("y1-2", "KS1 pupils"),
        ];
        for (key, name) in cases {
            assert_eq!(
                Audience::for_group("pupil", key, name),
                Audience::EyfsKs1,
                "{key} / {name}"
            );
        }
    }

    #[test]
    fn other_groups_follow_their_kind() {
        assert_eq!(
            Audience::for_group("pupil", "ks2", "Juniors"),
            Audience::Ks2
        );
        assert_eq!(
            Audience::for_group("pupil", "pupils", "Pupils"),
            Audience::Ks2
        );
        assert_eq!(
            Audience::for_group("staff", "staff", "Staff"),
            Audience::Staff
        );
        // A staff group is never taken for infants because of its name.
        assert_eq!(
            Audience::for_group("staff", "eyfs-staff", "EYFS staff"),
            Audience::Staff
        );
        assert_eq!(
            Audience::for_group("visitor", "guests", "Guest Wi-Fi"),
            Audience::Visitors
        );
        assert_eq!(
            Audience::for_group("unidentified", "unknown", "Unknown"),
            Audience::Visitors
        );
        assert_eq!(Audience::for_group("", "", ""), Audience::Visitors);
    }

    #[test]
    fn only_the_two_pupil_audiences_are_pupils() {
        let pupils: Vec<_> = Audience::ALL.into_iter().filter(|a| a.is_pupil()).collect();
        assert_eq!(pupils, vec![Audience::EyfsKs1, Audience::Ks2]);
    }
}

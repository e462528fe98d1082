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
        Audience::ALL.into_iter().find(|audience| audience.key() == key)
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

//! The uses a parent or carer gives or refuses consent for their child's image, and which of
//! them are not given (the "do not photograph or publish" list).

/// A use of a pupil's photograph or video that needs a parent's consent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ImageUse {
    Website,
    SocialMedia,
    Newsletter,
    Press,
    Displays,
}

impl ImageUse {
    /// Every use, in the order forms and registers show them.
    pub const ALL: [ImageUse; 5] = [
        ImageUse::Website,
        ImageUse::SocialMedia,
        ImageUse::Newsletter,
        ImageUse::Press,
        ImageUse::Displays,
    ];

    /// The key stored in the database and sent by forms.
    pub fn key(self) -> &'static str {
        match self {
            ImageUse::Website => "website",
            ImageUse::SocialMedia => "social-media",
            ImageUse::Newsletter => "newsletter",
            ImageUse::Press => "press",
            ImageUse::Displays => "displays",
        }
    }

    /// The use with this key, or `None` for anything else (keys are exact).
    pub fn parse(key: &str) -> Option<ImageUse> {
        ImageUse::ALL.into_iter().find(|image_use| image_use.key() == key)
    }

    /// What the use means, as a parent reads it on the consent form.
    pub fn label(self) -> &'static str {
        match self {
            ImageUse::Website => "The school website",
            ImageUse::SocialMedia => "The school's official social media accounts",
            ImageUse::Newsletter => "Newsletters and the school prospectus",
            ImageUse::Press => "Local newspapers and other press",
            ImageUse::Displays => "Displays around the school",
        }
    }
}

/// A parent's answer for one use. No answer at all (not yet asked) is `None` wherever a
/// consent is optional, and counts as not given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Consent {
    Given,
    Refused,
}

impl Consent {
    /// The key stored in the database and sent by forms.
    pub fn key(self) -> &'static str {
        match self {
            Consent::Given => "given",
            Consent::Refused => "refused",
        }
    }

    /// The answer with this key, or `None` for anything else (keys are exact).
    pub fn parse(key: &str) -> Option<Consent> {
        match key {
            "given" => Some(Consent::Given),
            "refused" => Some(Consent::Refused),
            _ => None,
        }
    }

    /// The answer as shown in registers.
    pub fn label(self) -> &'static str {
        match self {
            Consent::Given => "Given",
            Consent::Refused => "Refused",
        }
    }
}

/// The uses for which consent is not given, in `ImageUse::ALL` order. A use counts as given
/// only when its answer is `Given`: refused, not yet asked (`None`) and a use missing from
/// `states` altogether all count as not given, because publishing on a guess is the mistake
/// the list exists to prevent. If a use appears more than once, its last answer counts.
pub fn not_given(states: &[(ImageUse, Option<Consent>)]) -> Vec<ImageUse> {
    ImageUse::ALL
        .into_iter()
        .filter(|image_use| {
            let answer = states
                .iter()
                .rev()
                .find(|(use_in_state, _)| use_in_state == image_use)
                .and_then(|(_, consent)| *consent);
            answer != Some(Consent::Given)
        })
        .collect()
}

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
        ImageUse::ALL
            .into_iter()
            .find(|image_use| image_use.key() == key)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_parse_back_and_nothing_else_does() {
        for image_use in ImageUse::ALL {
            assert_eq!(ImageUse::parse(image_use.key()), Some(image_use));
            assert!(!image_use.label().is_empty());
        }
        for consent in [Consent::Given, Consent::Refused] {
            assert_eq!(Consent::parse(consent.key()), Some(consent));
        }
        assert_eq!(ImageUse::parse("Website"), None);
        assert_eq!(ImageUse::parse("social_media"), None);
        assert_eq!(Consent::parse("yes"), None);
        assert_eq!(Consent::parse(""), None);
        assert_eq!(ImageUse::SocialMedia.key(), "social-media");
        assert_eq!(Consent::Refused.label(), "Refused");
    }

    #[test]
    fn only_given_counts_as_given() {
        let states = [
            (ImageUse::Website, Some(Consent::Given)),
            (ImageUse::SocialMedia, Some(Consent::Refused)),
            (ImageUse::Newsletter, None),
            (ImageUse::Press, Some(Consent::Given)),
            // Displays missing altogether: never asked.
        ];
        assert_eq!(
            not_given(&states),
            vec![
                ImageUse::SocialMedia,
                ImageUse::Newsletter,
                ImageUse::Displays
            ]
        );
    }

    #[test]
    fn all_given_is_an_empty_list_and_nothing_asked_is_everything() {
        let all_given: Vec<_> = ImageUse::ALL
            .into_iter()
            .map(|image_use| (image_use, Some(Consent::Given)))
            .collect();
        assert!(not_given(&all_given).is_empty());
        assert_eq!(not_given(&[]), ImageUse::ALL.to_vec());
    }

    #[test]
    fn the_last_answer_for_a_use_counts() {
        let changed_mind = [
            (ImageUse::Press, Some(Consent::Given)),
            (ImageUse::Press, Some(Consent::Refused)),
        ];
        assert!(not_given(&changed_mind).contains(&ImageUse::Press));
        let then_given = [
            (ImageUse::Press, Some(Consent::Refused)),
            (ImageUse::Press, Some(Consent::Given)),
        ];
        assert!(!not_given(&then_given).contains(&ImageUse::Press));
    }
}

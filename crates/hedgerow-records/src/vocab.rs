//! The fixed vocabularies of a record: each value has a stable key (what the store keeps as
//! text and forms send) and a UK English label (what pages show), in the order pages list them.

/// Declares a vocabulary enum with `key`, `label`, `parse` and `ALL` from one table, so a key
/// and its label can never drift apart.
macro_rules! vocabulary {
    ($(#[$meta:meta])* $name:ident { $($variant:ident = $key:literal, $label:literal;)+ }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $(#[doc = $label] $variant,)+
        }

        impl $name {
            /// Every value, in the order pages list them.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The stable key the store keeps and forms send.
            pub fn key(self) -> &'static str {
                match self { $($name::$variant => $key,)+ }
            }

            /// The label pages show, in UK English.
            pub fn label(self) -> &'static str {
                match self { $($name::$variant => $label,)+ }
            }

            /// Reads a key written by `key`; `None` for anything else.
            pub fn parse(key: &str) -> Option<$name> {
                $name::ALL.iter().copied().find(|value| value.key() == key)
            }

            /// The label for a stored key, or the key itself when it is not one (so an old
            /// or unknown key is still shown rather than hidden).
            pub fn label_for(key: &str) -> &str {
                $name::parse(key).map_or(key, |value| value.label())
            }
        }
    };
}

vocabulary! {
    /// Which kind of record this is; it decides who may read it and how long it is kept.
    RecordType {
        OnlineSafety = "online-safety", "Online-safety concern";
        ChildProtection = "child-protection", "Child-protection record";
        StaffAllegation = "staff-allegation", "Allegation against a member of staff";
    }
}

#[allow(
    clippy::derivable_impls,
    reason = "the enum comes from the vocabulary macro"
)]
impl Default for RecordType {
    fn default() -> Self {
        RecordType::OnlineSafety
    }
}

vocabulary! {
    /// A kind of online-safety incident, as the seed policies' incident log lists them.
    IncidentType {
        AgeInappropriate = "age-inappropriate", "Accessing age-inappropriate sites, apps or social media";
        OthersAccount = "others-account", "Using someone else's account";
        ThreateningMessages = "threatening-messages", "Chain or threatening messages";
        ImagesWithoutPermission = "images-without-permission", "Posting images without permission";
        Cyberbullying = "cyberbullying", "Cyberbullying";
        Disrepute = "disrepute", "Material bringing a person or the school into disrepute";
        HateMaterial = "hate-material", "Racist, sexist, homophobic, religious or other hate material";
        Gambling = "gambling", "Online gambling";
        SextingIndecentImages = "sexting-indecent-images", "Sexting and indecent images";
        BypassingSecurity = "bypassing-security", "Bypassing security";
        Grooming = "grooming", "Grooming";
        HackingViruses = "hacking-viruses", "Hacking or viruses";
        Pornography = "pornography", "Pornography";
        TerroristMaterial = "terrorist-material", "Terrorist material";
        ViolentMaterial = "violent-material", "Violent material";
        DrugsBombMaking = "drugs-bomb-making", "Drug or bomb-making material";
        Impersonation = "impersonation", "Impersonation accounts";
        Copyright = "copyright", "Copyright";
        AupBreach = "aup-breach", "Other breach of the acceptable use agreement";
        Other = "other", "Other";
    }
}

vocabulary! {
    /// Who a person involved in an incident is to the school.
    PersonRole {
        Pupil = "pupil", "Pupil";
        Staff = "staff", "Member of staff";
        ParentCarer = "parent-carer", "Parent or carer";
        Other = "other", "Other";
    }
}

vocabulary! {
    /// How a person was involved in an incident.
    Involvement {
        Affected = "affected", "Affected";
        Responsible = "responsible", "Alleged to have done it";
        Witness = "witness", "Witness";
        Other = "other", "Other";
    }
}

vocabulary! {
    /// Where an incident happened.
    Location {
        InSchool = "in-school", "In school";
        OutOfSchool = "out-of-school", "Outside school";
        Unknown = "unknown", "Not known";
    }
}

vocabulary! {
    /// Something done about a record, kept in its append-only record of action.
    ActionKind {
        DslInformed = "dsl-informed", "DSL informed";
        HeadInformed = "head-informed", "Headteacher informed";
        AdviceSought = "advice-sought", "Safeguarding advice sought";
        SocialCareReferral = "social-care-referral", "Referral to children's social care";
        Police101 = "police-101", "Police informed on 101";
        Police999 = "police-999", "Police called on 999";
        CeopReport = "ceop-report", "Report to CEOP";
        IwfReport = "iwf-report", "Web address reported to the IWF";
        LadoReferral = "lado-referral", "Referral to the LADO";
        ParentsInformed = "parents-informed", "Parents or carers informed";
        PlatformReport = "platform-report", "Reported to the platform";
        Sanction = "sanction", "Sanction";
        SupportOffered = "support-offered", "Support offered";
        Debrief = "debrief", "Debrief and lessons learnt";
        PolicyReview = "policy-review", "Policy review flagged";
        Note = "note", "Note";
    }
}

impl ActionKind {
    /// Whether this action is a referral outside the school (social care, police, CEOP, the
    /// IWF or the LADO): a record closed without one must say why none was made.
    pub fn is_referral(self) -> bool {
        matches!(
            self,
            ActionKind::SocialCareReferral
                | ActionKind::Police101
                | ActionKind::Police999
                | ActionKind::CeopReport
                | ActionKind::IwfReport
                | ActionKind::LadoReferral
        )
    }
}

vocabulary! {
    /// A sanction the gateway enforces until it ends.
    SanctionKind {
        Suspended = "suspended", "Internet access suspended";
        Restricted = "restricted", "Restricted profile";
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_round_trip<T: Copy + PartialEq + std::fmt::Debug>(
        all: &[T],
        key: fn(T) -> &'static str,
        label: fn(T) -> &'static str,
        parse: fn(&str) -> Option<T>,
    ) {
        let mut keys = std::collections::HashSet::new();
        for &value in all {
            assert_eq!(parse(key(value)), Some(value));
            assert!(keys.insert(key(value)), "duplicate key {}", key(value));
            assert!(!label(value).is_empty());
        }
        assert_eq!(parse(""), None);
        assert_eq!(parse("no-such-key"), None);
    }

    #[test]
    fn every_key_parses_back_and_keys_are_unique() {
        assert_round_trip(
            RecordType::ALL,
            RecordType::key,
            RecordType::label,
            RecordType::parse,
        );
        assert_round_trip(
            IncidentType::ALL,
            IncidentType::key,
            IncidentType::label,
            IncidentType::parse,
        );
        assert_round_trip(
            PersonRole::ALL,
            PersonRole::key,
            PersonRole::label,
            PersonRole::parse,
        );
        assert_round_trip(
            Involvement::ALL,
            Involvement::key,
            Involvement::label,
            Involvement::parse,
        );
        assert_round_trip(
            Location::ALL,
            Location::key,
            Location::label,
            Location::parse,
        );
        assert_round_trip(
            ActionKind::ALL,
            ActionKind::key,
            ActionKind::label,
            ActionKind::parse,
        );
        assert_round_trip(
            SanctionKind::ALL,
            SanctionKind::key,
            SanctionKind::label,
            SanctionKind::parse,
        );
    }

    #[test]
    fn incident_types_keep_the_incident_logs_order() {
        let keys: Vec<_> = IncidentType::ALL.iter().map(|t| t.key()).collect();
        assert_eq!(keys.len(), 20);
        assert_eq!(keys.first(), Some(&"age-inappropriate"));
        assert_eq!(keys.get(8), Some(&"sexting-indecent-images"));
        assert_eq!(keys.last(), Some(&"other"));
        assert_eq!(RecordType::default().key(), "online-safety");
        assert_eq!(IncidentType::label_for("gambling"), "Online gambling");
        assert_eq!(IncidentType::label_for("retired-key"), "retired-key");
    }

    #[test]
    fn exactly_the_six_outside_referrals_count_as_referrals() {
        let referrals: Vec<_> = ActionKind::ALL
            .iter()
            .filter(|a| a.is_referral())
            .map(|a| a.key())
            .collect();
        assert_eq!(
            referrals,
            [
                "social-care-referral",
                "police-101",
                "police-999",
                "ceop-report",
                "iwf-report",
                "lado-referral"
            ]
        );
    }
}

//! Guided procedures: checklists for the incidents where doing the wrong thing first does
//! harm (grooming, indecent images, radicalisation, cyberbullying, online hate). Each step
//! says why it matters, because staff follow a rule more surely when they know its reason.

use crate::IncidentType;

/// One step of a procedure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step {
    /// The stable key the store keeps for a ticked step.
    pub key: &'static str,
    /// What to do, as a checklist line.
    pub label: &'static str,
    /// Why, in one line.
    pub why: &'static str,
}

const fn step(key: &'static str, label: &'static str, why: &'static str) -> Step {
    Step { key, label, why }
}

const INFORM_DSL: Step = step(
    "inform-dsl",
    "Tell the DSL straight away",
    "The DSL decides on referrals and who else must know; this cannot wait until the end of the day.",
);
const PRESERVE_EVIDENCE: Step = step(
    "preserve-evidence",
    "Preserve the evidence in words",
    "Write down what was sent, by whom, when and on which site or app before it is deleted; describe it, never copy images.",
);
const SECURE_DEVICE: Step = step(
    "secure-device",
    "Secure the device",
    "Take it, do not use it, and lock it away with a note of who has had it, so nothing is deleted or sent on.",
);
const PARENTS_UNLESS_RISK: Step = step(
    "parents-unless-risk",
    "Inform parents or carers, unless that would put the child at risk",
    "Parents usually help keep the child safe, but ask the police or social care first if someone at home may be involved.",
);
const SUPPORT_CHILD: Step = step(
    "support-child",
    "Support the child",
    "What happened is not the child's fault; agree who they can talk to and check on them in the days after.",
);
const IDENTIFY_FROM_LOGS: Step = step(
    "identify-from-logs",
    "Use the activity logs to find who was involved",
    "The filter's logs show which accounts and devices reached the site and when, which helps establish the facts fairly.",
);
const REPORT_TO_PLATFORM: Step = step(
    "report-to-platform",
    "Report it to the platform",
    "Sites and apps remove content that breaks their rules and can act on accounts the school cannot reach.",
);
const SUPPORT_TARGET: Step = step(
    "support-target",
    "Support the child who was targeted",
    "Check on them, agree what would help, and tell them what is being done so they know it is taken seriously.",
);
const SANCTIONS: Step = step(
    "sanctions",
    "Apply sanctions under the behaviour policy",
    "Consistent sanctions show the behaviour is not accepted; internet access can be suspended or restricted from this record.",
);
const INFORM_PARENTS: Step = step(
    "inform-parents",
    "Inform the parents or carers of the children involved",
    "Parents can support their child at home and notice if it carries on outside school.",
);

const GROOMING: &[Step] = &[
    step(
        "do-not-investigate",
        "Do not investigate or question the child in detail",
        "Listen, reassure and write down the child's own words; leading questions can harm a police investigation.",
    ),
    PRESERVE_EVIDENCE,
    SECURE_DEVICE,
    INFORM_DSL,
    step(
        "ceop-or-police",
        "Report to CEOP or the police",
        "They investigate online sexual abuse; call 999 if a child is in immediate danger.",
    ),
    step(
        "social-care",
        "Refer to children's social care",
        "Social care assess the risk to the child and work with the police to keep them safe.",
    ),
    PARENTS_UNLESS_RISK,
    SUPPORT_CHILD,
];

const INDECENT_IMAGES: &[Step] = &[
    step(
        "do-not-view-or-copy",
        "Do not view, copy, print or forward the images",
        "Doing so may be an offence, even to gather evidence; secure the device instead and describe what you were told.",
    ),
    SECURE_DEVICE,
    step(
        "do-not-delete",
        "Do not delete the images or ask anyone else to",
        "The police may need them as evidence; removing them is for the police or the IWF.",
    ),
    step(
        "report-url-iwf",
        "Report any web address to the IWF",
        "The Internet Watch Foundation has images of children taken down; report the address, never send the image.",
    ),
    step(
        "inform-police",
        "Inform the police",
        "Making or sharing indecent images of children is a crime; the police decide how to investigate.",
    ),
    INFORM_DSL,
    PARENTS_UNLESS_RISK,
    step(
        "support-child",
        "Support the child",
        "Tell them they are right to ask for help; Childline and the IWF's Report Remove can help get images taken down.",
    ),
];

const RADICALISATION: &[Step] = &[
    INFORM_DSL,
    step(
        "record-words",
        "Write down the child's exact words",
        "Exact words, dates and the sites or groups named let the DSL and Prevent judge the risk fairly.",
    ),
    step(
        "prevent-referral",
        "Consider a Prevent referral",
        "Prevent (through Channel) supports a child before harm is done; the DSL refers through the local authority.",
    ),
    step(
        "report-terrorist-content",
        "Report terrorist content to CTIRU",
        "The Counter Terrorism Internet Referral Unit has it removed; use the government's online reporting form.",
    ),
    step(
        "check-filtering",
        "Check the filtering",
        "If the material was reached in school, the filter needs changing so other children cannot reach it.",
    ),
    SUPPORT_CHILD,
];

const CYBERBULLYING: &[Step] = &[
    PRESERVE_EVIDENCE,
    IDENTIFY_FROM_LOGS,
    step(
        "ask-for-removal",
        "Ask for the content to be taken down",
        "Ask whoever posted it to remove it; the harm goes on for as long as it stays up.",
    ),
    REPORT_TO_PLATFORM,
    SUPPORT_TARGET,
    SANCTIONS,
    INFORM_PARENTS,
];

const ONLINE_HATE: &[Step] = &[
    PRESERVE_EVIDENCE,
    IDENTIFY_FROM_LOGS,
    REPORT_TO_PLATFORM,
    step(
        "report-hate-crime",
        "Report it as a hate crime",
        "Hate crime can be reported to the police, or online through True Vision, which the police run.",
    ),
    SUPPORT_TARGET,
    SANCTIONS,
    INFORM_PARENTS,
];

/// A guided procedure: a checklist recorded on the incident.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Procedure {
    /// Online sexual abuse and grooming.
    Grooming,
    /// Indecent images of children.
    IndecentImages,
    /// Radicalisation and terrorist material.
    Radicalisation,
    /// Cyberbullying.
    Cyberbullying,
    /// Online hate.
    OnlineHate,
}

impl Procedure {
    /// Every procedure, in the order pages list them.
    pub const ALL: &'static [Procedure] = &[
        Procedure::Grooming,
        Procedure::IndecentImages,
        Procedure::Radicalisation,
        Procedure::Cyberbullying,
        Procedure::OnlineHate,
    ];

    /// The stable key the store keeps.
    pub fn key(self) -> &'static str {
        match self {
            Procedure::Grooming => "grooming",
            Procedure::IndecentImages => "indecent-images",
            Procedure::Radicalisation => "radicalisation",
            Procedure::Cyberbullying => "cyberbullying",
            Procedure::OnlineHate => "online-hate",
        }
    }

    /// The procedure's title, in UK English.
    pub fn label(self) -> &'static str {
        match self {
            Procedure::Grooming => "Online sexual abuse and grooming",
            Procedure::IndecentImages => "Indecent images of children",
            Procedure::Radicalisation => "Radicalisation",
            Procedure::Cyberbullying => "Cyberbullying",
            Procedure::OnlineHate => "Online hate",
        }
    }

    /// Reads a key written by [`Procedure::key`]; `None` for anything else.
    pub fn parse(key: &str) -> Option<Procedure> {
        Procedure::ALL.iter().copied().find(|p| p.key() == key)
    }

    /// The title for a stored key, or the key itself when it is not one.
    pub fn label_for(key: &str) -> &str {
        Procedure::parse(key).map_or(key, |procedure| procedure.label())
    }

    /// The checklist, in the order to follow it.
    pub fn steps(self) -> &'static [Step] {
        match self {
            Procedure::Grooming => GROOMING,
            Procedure::IndecentImages => INDECENT_IMAGES,
            Procedure::Radicalisation => RADICALISATION,
            Procedure::Cyberbullying => CYBERBULLYING,
            Procedure::OnlineHate => ONLINE_HATE,
        }
    }

    /// The step with this key, if the procedure has one (to check a ticked step's key).
    pub fn step(self, key: &str) -> Option<&'static Step> {
        self.steps().iter().find(|s| s.key == key)
    }

    /// The procedures to offer for a record of these incident types, each once, in
    /// [`Procedure::ALL`] order.
    pub fn suggested_for(types: &[IncidentType]) -> Vec<Procedure> {
        let suggested = |incident: IncidentType| match incident {
            IncidentType::Grooming => Some(Procedure::Grooming),
            IncidentType::SextingIndecentImages => Some(Procedure::IndecentImages),
            IncidentType::TerroristMaterial => Some(Procedure::Radicalisation),
            IncidentType::Cyberbullying | IncidentType::ThreateningMessages => {
                Some(Procedure::Cyberbullying)
            }
            IncidentType::HateMaterial => Some(Procedure::OnlineHate),
            _ => None,
        };
        Procedure::ALL
            .iter()
            .copied()
            .filter(|p| types.iter().any(|&t| suggested(t) == Some(*p)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_match_the_design_and_keys_are_unique() {
        let keys = |p: Procedure| p.steps().iter().map(|s| s.key).collect::<Vec<_>>();
        assert_eq!(
            keys(Procedure::IndecentImages),
            [
                "do-not-view-or-copy",
                "secure-device",
                "do-not-delete",
                "report-url-iwf",
                "inform-police",
                "inform-dsl",
                "parents-unless-risk",
                "support-child"
            ]
        );
        assert_eq!(
            keys(Procedure::Grooming).first(),
            Some(&"do-not-investigate")
        );
        assert!(keys(Procedure::OnlineHate).contains(&"report-hate-crime"));
        for &procedure in Procedure::ALL {
            assert_eq!(Procedure::parse(procedure.key()), Some(procedure));
            let mut seen = std::collections::HashSet::new();
            for step in procedure.steps() {
                assert!(
                    seen.insert(step.key),
                    "{} repeats {}",
                    procedure.key(),
                    step.key
                );
                assert!(!step.label.is_empty() && step.why.ends_with('.'));
                assert_eq!(procedure.step(step.key), Some(step));
            }
        }
        assert_eq!(Procedure::Radicalisation.step("do-not-delete"), None);
        assert_eq!(Procedure::label_for("online-hate"), "Online hate");
        assert_eq!(Procedure::label_for("retired"), "retired");
    }

    #[test]
    fn suggestions_follow_the_incident_types_once_each() {
        use IncidentType as T;
        assert_eq!(
            Procedure::suggested_for(&[
                T::HateMaterial,
                T::Cyberbullying,
                T::ThreateningMessages,
                T::Grooming
            ]),
            [
                Procedure::Grooming,
                Procedure::Cyberbullying,
                Procedure::OnlineHate
            ]
        );
        assert_eq!(
            Procedure::suggested_for(&[T::SextingIndecentImages]),
            [Procedure::IndecentImages]
        );
        assert_eq!(
            Procedure::suggested_for(&[T::TerroristMaterial]),
            [Procedure::Radicalisation]
        );
        assert!(Procedure::suggested_for(&[T::Gambling, T::Copyright]).is_empty());
        assert!(Procedure::suggested_for(&[]).is_empty());
    }
}

//! The project's own default agreement texts, one per audience, and the monitoring notice
//! that is part of what everyone accepts. Schools start from these and edit them; the texts
//! live in the crate's `texts/` folder as plain files, so they can be read and reviewed as
//! prose rather than as Rust strings.

use crate::{Audience, Template};

/// The project's default agreement for an audience: written for Hedgerow (not taken from any
/// school's policy), in plain UK English at the reader's level, and saying that the school's
/// devices and internet are filtered and monitored.
pub fn default_template(audience: Audience) -> Template {
    let (title, body) = match audience {
        Audience::EyfsKs1 => (
            "Our rules for using computers and tablets",
            include_str!("../texts/eyfs-ks1.txt"),
        ),
        Audience::Ks2 => (
            "Our agreement for using computers and the internet",
            include_str!("../texts/ks2.txt"),
        ),
        Audience::Staff => (
            "Acceptable use agreement for staff",
            include_str!("../texts/staff.txt"),
        ),
        Audience::Governors => (
            "Acceptable use agreement for governors",
            include_str!("../texts/governors.txt"),
        ),
        Audience::Visitors => (
            "Acceptable use agreement for visitors and community users",
            include_str!("../texts/visitors.txt"),
        ),
        Audience::Parents => (
            "Agreement for parents and carers",
            include_str!("../texts/parents.txt"),
        ),
        Audience::SocialMedia => (
            "Agreement for staff running the school's social media accounts",
            include_str!("../texts/social-media.txt"),
        ),
    };
    Template {
        title: title.to_string(),
        body: body.trim().to_string(),
    }
}

/// What is recorded about someone's use of the school's internet and devices, and who reads
/// it, in words for that audience. The portal shows it above the agreement, so accepting the
/// agreement is accepting the monitoring too.
pub fn monitoring_notice(audience: Audience) -> &'static str {
    match audience {
        Audience::EyfsKs1 => {
            "Grown-ups at school can see which websites you use on school computers and \
             tablets. They look so they can keep you safe. Some websites are blocked because \
             they are not for children."
        }
        Audience::Ks2 => {
            "The school keeps a record of the websites you visit and the things you search for \
             on school devices and the school's internet, and when you did it. Websites that \
             are not suitable for children are blocked. If something you search for or visit \
             suggests you might be unsafe or unhappy, the staff who look after safeguarding \
             are told so that they can help you. Only a few trusted staff can read these \
             records."
        }
        Audience::Staff | Audience::Governors | Audience::SocialMedia => {
            "Use of the school's devices, network and internet connection is filtered and \
             monitored. The school's gateway records the websites and other internet services \
             requested, search terms, when, from which device and by which account, and \
             whether each was allowed or blocked; searches and pages that suggest someone may \
             be at risk raise an alert. These records are read by the designated safeguarding \
             lead (DSL), their deputies and the online safety lead, are shared only to keep \
             someone safe or where the law requires it, and are kept for the limited time set \
             in the school's data protection policy."
        }
        Audience::Visitors | Audience::Parents => {
            "When you use the school's Wi-Fi or devices, what you do is filtered and monitored. \
             The school's gateway records the websites and other internet services requested, \
             search terms, when and from which device, and whether each was allowed or \
             blocked; searches and pages that suggest someone may be at risk raise an alert. \
             These records are read by the designated safeguarding lead (DSL) and a few other \
             named staff, are shared only to keep someone safe or where the law requires it, \
             and are kept for a limited time."
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{check_template, render_body};

    #[test]
    fn every_default_text_passes_the_schools_own_checks() {
        for audience in Audience::ALL {
            let template = default_template(audience);
            assert_eq!(
                check_template(&template.title, &template.body),
                Ok(()),
                "{audience:?}"
            );
            assert!(!render_body(&template.body).is_empty());
        }
    }

    #[test]
    fn every_default_text_says_use_is_filtered_and_monitored() {
        for audience in Audience::ALL {
            let body = default_template(audience).body.to_lowercase();
            let says_filtered = body.contains("filter") || body.contains("blocks websites");
            let says_monitored = body.contains("monitored") || body.contains("can see what i do");
            assert!(says_filtered && says_monitored, "{audience:?}");
        }
    }

    #[test]
    fn the_youngest_pupils_read_one_short_sentence_per_picture() {
        let body = default_template(Audience::EyfsKs1).body;
        let sentences: Vec<_> = body
            .lines()
            .filter(|line| !line.trim().is_empty() && !line.starts_with("## "))
            .collect();
        assert!(sentences.len() >= 8);
        for line in sentences {
            assert!(line.starts_with("[picture:"), "{line}");
            let words = line.split_whitespace().count() - 1;
            assert!(words <= 10, "too long for EYFS/KS1: {line}");
        }
    }

    #[test]
    fn texts_cover_their_audiences_topics() {
        let topics: [(Audience, &[&str]); 7] = [
            (
                Audience::EyfsKs1,
                &["grown-up", "password", "kind", "photo", "secret"],
            ),
            (
                Audience::Ks2,
                &[
                    "password",
                    "kind",
                    "trusted adult",
                    "personal information",
                    "photo",
                    "download",
                    "social media",
                    "phone",
                ],
            ),
            (
                Audience::Staff,
                &[
                    "designated safeguarding lead",
                    "data protection",
                    "personal device",
                    "social media",
                    "password",
                ],
            ),
            (
                Audience::Governors,
                &[
                    "confidential",
                    "data protection",
                    "designated safeguarding lead",
                    "social media",
                ],
            ),
            (
                Audience::Visitors,
                &["wi-fi", "photos", "designated safeguarding lead"],
            ),
            (
                Audience::Parents,
                &["consent", "social media", "talked it through"],
            ),
            (
                Audience::SocialMedia,
                &[
                    "approved",
                    "image consent register",
                    "full name",
                    "comments",
                    "password",
                ],
            ),
        ];
        for (audience, words) in topics {
            let body = default_template(audience).body.to_lowercase();
            for word in words {
                assert!(body.contains(word), "{audience:?} should mention {word}");
            }
        }
    }

    #[test]
    fn texts_are_in_uk_english() {
        for audience in Audience::ALL {
            let template = default_template(audience);
            let text = format!("{} {}", template.title, template.body).to_lowercase();
            for us_spelling in [
                "color",
                "behavior",
                "organization",
                "authorized",
                "license ",
            ] {
                assert!(!text.contains(us_spelling), "{audience:?}: {us_spelling}");
            }
        }
    }

    #[test]
    fn every_notice_says_what_is_recorded_and_is_simpler_for_the_youngest() {
        for audience in Audience::ALL {
            let notice = monitoring_notice(audience);
            assert!(notice.contains("websites"), "{audience:?}");
        }
        let youngest = monitoring_notice(Audience::EyfsKs1);
        assert!(!youngest.contains("designated safeguarding lead"));
        assert!(youngest.len() < monitoring_notice(Audience::Staff).len());
        assert!(monitoring_notice(Audience::Staff).contains("designated safeguarding lead"));
    }
}

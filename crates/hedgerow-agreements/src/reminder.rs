//! The e-mail that reminds someone to accept, or renew, their acceptable use agreement.
//!
//! It says only what the person needs: which agreement, why they are asked (never accepted,
//! changed, ended or ending soon) and where to accept it. Nothing about their browsing.

use crate::{Audience, Standing, uk_date};

/// A reminder's subject and plain-text body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reminder {
    pub subject: String,
    pub text: String,
}

/// The reminder for `name` in `audience`, standing as `standing`; `None` for someone whose
/// acceptance is current and not ending soon, who needs no reminder. `portal_url` is where
/// the agreement is accepted, when the school has a portal.
pub fn reminder(
    school_name: &str,
    name: &str,
    audience: Audience,
    standing: &Standing,
    portal_url: Option<&str>,
) -> Option<Reminder> {
    let why = match standing {
        Standing::Current { .. } => return None,
        Standing::NotAccepted => "Our records show that you have not accepted it yet.".to_string(),
        Standing::OldVersion => {
            "The school has changed the agreement since you last accepted it, so it needs accepting again."
                .to_string()
        }
        Standing::Expired { expired_on } => format!(
            "Your acceptance ended on {}, when agreements are renewed for the new year.",
            uk_date(*expired_on)
        ),
        Standing::ExpiringSoon { expires_on } => format!(
            "Your acceptance ends on {}; you can renew it now.",
            uk_date(*expires_on)
        ),
    };
    let how = match portal_url {
        Some(url) => format!(
            "Open {url} on a school device (or on the school's network) to read the agreement and accept it. It takes a few minutes."
        ),
        None => "Please ask the school office for a copy to read and sign.".to_string(),
    };
    Some(Reminder {
        subject: format!("{school_name}: please accept the acceptable use agreement"),
        text: format!(
            "Dear {name},\n\n{school_name} asks everyone who uses its computers, devices and internet to accept its acceptable use agreement ({audience}). {why}\n\n{how}\n\nIf you have questions about the agreement, please ask the school's online-safety lead.\n\nThis message was sent by Hedgerow, the school's online-safety system.\n",
            audience = audience.label().to_lowercase(),
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    #[test]
    fn says_why_and_where() {
        let r = reminder(
            "Oak School",
            "Ms Ash",
            Audience::Staff,
            &Standing::NotAccepted,
            Some("http://10.0.0.5/"),
        )
        .expect("a reminder");
        assert!(r.subject.contains("Oak School"));
        assert!(r.text.starts_with("Dear Ms Ash,"));
        assert!(r.text.contains("have not accepted it yet"));
        assert!(r.text.contains("http://10.0.0.5/"));
        let ending = reminder(
            "Oak School",
            "Ms Ash",
            Audience::Staff,
            &Standing::ExpiringSoon {
                expires_on: date(2027, 9, 1),
            },
            None,
        )
        .expect("a reminder");
        assert!(ending.text.contains("ends on 1 September 2027"));
        assert!(ending.text.contains("school office"));
    }

    #[test]
    fn nobody_current_is_reminded() {
        assert_eq!(
            reminder(
                "Oak School",
                "Ms Ash",
                Audience::Staff,
                &Standing::Current {
                    expires_on: date(2027, 9, 1)
                },
                None
            ),
            None
        );
    }
}

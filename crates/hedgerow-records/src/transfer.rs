//! The bundle that carries a pupil's online-safety file to a new school.
//!
//! A sealed bundle is a small JSON envelope `{"format", "sha256", "payload"}` whose payload is
//! the bundle's own JSON kept as a string, so its SHA-256 is taken over exactly the bytes that
//! were written. The envelope's checksum catches damage on the way; the checksum [`seal`]
//! returns is of the whole file (what `sha256sum` prints), and is sent to the new school
//! separately (the transfer log keeps it), so that a file changed on purpose, checksum and
//! all, is still caught when the receiver gives it to [`open`].

use jiff::{Timestamp, civil::Date};
use serde::{Deserialize, Serialize};

/// The format name written into every bundle and envelope.
pub const FORMAT: &str = "hedgerow-transfer/1";

/// The largest sealed bundle [`open`] accepts, and [`seal`] writes: 20 MB.
pub const MAX_BUNDLE_BYTES: usize = 20 * 1024 * 1024;

/// A pupil's online-safety file, as sent to their new school.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransferBundle {
    /// Always [`FORMAT`].
    pub format: String,
    /// The sending school's name.
    pub from_school: String,
    /// When the bundle was made.
    pub created_at: Timestamp,
    /// Who the file is about.
    pub pupil: TransferPupil,
    /// The pupil's records, as the store exports them.
    pub records: Vec<serde_json::Value>,
}

/// The pupil a transfer bundle is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransferPupil {
    /// Full name.
    pub name: String,
    /// Username at the sending school, if they had one.
    pub username: Option<String>,
    /// Date of birth, if known (the new school matches the pupil with it).
    pub date_of_birth: Option<Date>,
}

impl TransferBundle {
    /// A bundle in the current format.
    pub fn new(
        from_school: String,
        created_at: Timestamp,
        pupil: TransferPupil,
        records: Vec<serde_json::Value>,
    ) -> TransferBundle {
        TransferBundle {
            format: FORMAT.to_owned(),
            from_school,
            created_at,
            pupil,
            records,
        }
    }
}

/// Why a transfer bundle could not be made or opened. Each message says what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransferError {
    /// Over [`MAX_BUNDLE_BYTES`].
    #[error(
        "The transfer file is {bytes} bytes, more than the 20 MB a transfer file may be. Check \
         it is the right file; if it is, ask the sending school to send it again."
    )]
    TooLarge {
        /// Its size.
        bytes: usize,
    },
    /// Not a Hedgerow transfer file at all.
    #[error(
        "This is not a Hedgerow transfer file, or it is damaged. Check you chose the file the \
         sending school sent; if you did, ask the sending school to send the file again."
    )]
    NotABundle,
    /// A transfer file of another format or version.
    #[error(
        "This transfer file is in a format this version of Hedgerow cannot read (\"{found}\"). \
         Ask the sending school which version of Hedgerow they use, and update Hedgerow if \
         theirs is newer."
    )]
    UnsupportedFormat {
        /// The format the file names (shortened).
        found: String,
    },
    /// The file does not match its own checksum or was changed since it was written.
    #[error(
        "The transfer file has been changed or damaged since it was sent: it does not match its \
         own checksum. Do not use it; ask the sending school to send the file again."
    )]
    Damaged,
    /// The file does not match the checksum the sending school gave.
    #[error(
        "The transfer file does not match the checksum the sending school gave, so it may have \
         been changed or swapped on the way. Do not use it; ask the sending school to send the \
         file again and read the checksum out to you by phone."
    )]
    ChecksumMismatch,
    /// The checksum typed in is not a SHA-256 checksum.
    #[error(
        "The checksum entered is not a SHA-256 checksum (64 characters, digits 0-9 and letters \
         a-f). Copy it again from the sending school's message."
    )]
    ChecksumNotValid,
}

/// The envelope written to the file.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Envelope {
    format: String,
    sha256: String,
    payload: String,
}

/// The SHA-256 of `bytes`, as 64 lowercase hexadecimal digits.
pub fn sha256_hex(bytes: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, bytes);
    digest
        .as_ref()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// Seals a bundle into the bytes of a transfer file, with the SHA-256 of the whole file (to
/// keep in the transfer log and give to the receiving school).
pub fn seal(bundle: &TransferBundle) -> Result<(Vec<u8>, String), TransferError> {
    let payload = serde_json::to_string(bundle).map_err(|_| TransferError::NotABundle)?;
    let envelope = Envelope {
        format: FORMAT.to_owned(),
        sha256: sha256_hex(payload.as_bytes()),
        payload,
    };
    let bytes = serde_json::to_vec(&envelope).map_err(|_| TransferError::NotABundle)?;
    if bytes.len() > MAX_BUNDLE_BYTES {
        return Err(TransferError::TooLarge { bytes: bytes.len() });
    }
    let file_sha256 = sha256_hex(&bytes);
    Ok((bytes, file_sha256))
}

/// Opens a transfer file, refusing anything changed since [`seal`] wrote it.
/// `expected_sha256` is the checksum the sending school gave (spaces and case ignored), when
/// the receiver has it; without it, only accidental damage and careless edits are caught.
pub fn open(bytes: &[u8], expected_sha256: Option<&str>) -> Result<TransferBundle, TransferError> {
    if bytes.len() > MAX_BUNDLE_BYTES {
        return Err(TransferError::TooLarge { bytes: bytes.len() });
    }
    if let Some(expected) = expected_sha256 {
        let expected: String = expected
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect::<String>()
            .to_ascii_lowercase();
        if expected.len() != 64 || !expected.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(TransferError::ChecksumNotValid);
        }
        if sha256_hex(bytes) != expected {
            return Err(TransferError::ChecksumMismatch);
        }
    }
    // A file saved again by a text editor may gain a final line ending; nothing else may change.
    let trimmed = bytes.trim_ascii_end();
    let envelope: Envelope = match serde_json::from_slice(trimmed) {
        Ok(envelope) => envelope,
        Err(_) => return Err(unreadable(trimmed)),
    };
    if envelope.format != FORMAT {
        return Err(TransferError::UnsupportedFormat {
            found: envelope.format.chars().take(40).collect(),
        });
    }
    if sha256_hex(envelope.payload.as_bytes()) != envelope.sha256 {
        return Err(TransferError::Damaged);
    }
    // Seal writes one exact form; any other spelling of the same JSON was edited by hand.
    let rewritten = serde_json::to_vec(&envelope).map_err(|_| TransferError::Damaged)?;
    if rewritten != trimmed {
        return Err(TransferError::Damaged);
    }
    let bundle: TransferBundle =
        serde_json::from_str(&envelope.payload).map_err(|_| TransferError::Damaged)?;
    if bundle.format != FORMAT {
        return Err(TransferError::Damaged);
    }
    Ok(bundle)
}

/// Tells a file that was never a bundle from a bundle that was damaged.
fn unreadable(bytes: &[u8]) -> TransferError {
    let marker = format!("{{\"format\":\"{FORMAT}\"");
    if bytes.starts_with(marker.as_bytes()) {
        TransferError::Damaged
    } else {
        TransferError::NotABundle
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;
    use proptest::prelude::*;

    fn example() -> TransferBundle {
        TransferBundle::new(
            "Hedgerow Primary".into(),
            "2025-07-18T14:30:00Z".parse().unwrap(),
            TransferPupil {
                name: "Ada Example".into(),
                username: Some("ada.e".into()),
                date_of_birth: Some(date(2014, 2, 28)),
            },
            vec![serde_json::json!({"id": 4, "summary": "Chat \"friend\" asked for photos\n"})],
        )
    }

    #[test]
    fn a_sealed_bundle_opens_with_and_without_the_checksum() {
        let (bytes, sha) = seal(&example()).unwrap();
        assert_eq!(sha.len(), 64);
        assert_eq!(open(&bytes, None), Ok(example()));
        assert_eq!(open(&bytes, Some(&sha.to_uppercase())), Ok(example()));
        let mut with_newline = bytes.clone();
        with_newline.extend_from_slice(b"\r\n");
        assert_eq!(open(&with_newline, None), Ok(example()));
    }

    #[test]
    fn sha256_is_the_standard_digest() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn tampering_is_refused_with_a_reason() {
        let (bytes, sha) = seal(&example()).unwrap();
        let text = String::from_utf8(bytes.clone()).unwrap();
        let edited = text.replace("Ada Example", "Ada Exemple");
        assert_eq!(open(edited.as_bytes(), None), Err(TransferError::Damaged));
        assert_eq!(
            open(edited.as_bytes(), Some(&sha)),
            Err(TransferError::ChecksumMismatch)
        );

        // Re-sealing a changed bundle passes the envelope check but not the given checksum.
        let mut changed = example();
        changed.pupil.name = "Someone Else".into();
        let (forged, _) = seal(&changed).unwrap();
        assert_eq!(
            open(&forged, Some(&sha)),
            Err(TransferError::ChecksumMismatch)
        );

        let pretty = serde_json::to_vec_pretty(
            &serde_json::from_slice::<serde_json::Value>(&bytes).unwrap(),
        )
        .unwrap();
        assert_eq!(open(&pretty, None), Err(TransferError::Damaged));
        assert_eq!(open(b"%PDF-1.7", None), Err(TransferError::NotABundle));
        assert_eq!(
            open(&bytes, Some("not a checksum")),
            Err(TransferError::ChecksumNotValid)
        );
        let other = text.replace(FORMAT, "hedgerow-transfer/2");
        assert!(matches!(
            open(other.as_bytes(), None),
            Err(TransferError::UnsupportedFormat { .. })
        ));
        let huge = vec![b' '; MAX_BUNDLE_BYTES + 1];
        assert_eq!(
            open(&huge, None),
            Err(TransferError::TooLarge {
                bytes: MAX_BUNDLE_BYTES + 1
            })
        );
    }

    fn any_json() -> impl Strategy<Value = serde_json::Value> {
        let leaf = prop_oneof![
            Just(serde_json::Value::Null),
            any::<bool>().prop_map(serde_json::Value::from),
            any::<i64>().prop_map(serde_json::Value::from),
            ".{0,20}".prop_map(serde_json::Value::from),
        ];
        leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::from),
                proptest::collection::btree_map(".{0,8}", inner, 0..4)
                    .prop_map(|map| serde_json::Value::Object(map.into_iter().collect())),
            ]
        })
    }

    fn any_bundle() -> impl Strategy<Value = TransferBundle> {
        (
            ".{0,30}",
            0i64..4_000_000_000,
            ".{0,30}",
            proptest::option::of(r#"[a-z0-9.\x00-\x1f"\\]{0,12}"#),
            proptest::option::of(0i64..40_000),
            proptest::collection::vec(any_json(), 0..4),
        )
            .prop_map(|(school, seconds, name, username, dob, records)| {
                TransferBundle::new(
                    school,
                    Timestamp::from_second(seconds).unwrap(),
                    TransferPupil {
                        name,
                        username,
                        date_of_birth: dob.map(|d| {
                            date(1950, 1, 1)
                                .checked_add(jiff::Span::new().days(d))
                                .unwrap()
                        }),
                    },
                    records,
                )
            })
    }

    proptest! {
        #[test]
        fn any_bundle_seals_and_opens(bundle in any_bundle()) {
            let (bytes, sha) = seal(&bundle).unwrap();
            prop_assert_eq!(open(&bytes, Some(&sha)), Ok(bundle.clone()));
            prop_assert_eq!(open(&bytes, None), Ok(bundle));
        }

        #[test]
        fn any_single_byte_change_is_refused(
            bundle in any_bundle(),
            position in any::<prop::sample::Index>(),
            flip in 1u8..=255,
        ) {
            let (mut bytes, sha) = seal(&bundle).unwrap();
            let at = position.index(bytes.len());
            if let Some(byte) = bytes.get_mut(at) {
                *byte ^= flip;
            }
            // Turning the final brace into a line ending leaves no valid file either.
            prop_assert!(open(&bytes, None).is_err());
            prop_assert_eq!(open(&bytes, Some(&sha)), Err(TransferError::ChecksumMismatch));
        }
    }
}

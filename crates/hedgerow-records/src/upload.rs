//! Uploads to a record are always refused: files are never stored with safeguarding records.
//! Pictures and videos get a fuller explanation, because an indecent image of a child must
//! never be stored or copied, not even as evidence. A picture is recognised by its first
//! bytes as well as its name and stated type, since a renamed file is still a picture.

/// Why an upload was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refusal {
    /// Whether the file looked like a picture or a video (by content, type or name).
    pub is_image: bool,
    /// What to tell the person uploading, and what to do instead.
    pub message: &'static str,
}

/// The explanation for a picture or video.
pub const IMAGE_MESSAGE: &str = "Pictures and videos are never stored with safeguarding \
records. If this could be an indecent image of a child, viewing, copying or sending it on may \
be an offence, even to report it, so do not upload it anywhere or open it again. Instead: \
describe in words what you were told and where the image is (not what it shows in detail), \
secure the device it is on without deleting anything, and tell the designated safeguarding \
lead (DSL) now.";

/// The explanation for any other file.
pub const OTHER_MESSAGE: &str = "Files are not stored with safeguarding records. Describe the \
evidence in words instead: what it is, where it is kept and who has it.";

/// Refuses an upload, saying why. `first_bytes` are the start of the file (the first few
/// kilobytes are plenty); `filename` and `content_type` are as the browser sent them.
pub fn refuse(filename: &str, content_type: &str, first_bytes: &[u8]) -> Refusal {
    let is_image = looks_like_image(first_bytes)
        || image_content_type(content_type)
        || image_extension(filename);
    Refusal {
        is_image,
        message: if is_image {
            IMAGE_MESSAGE
        } else {
            OTHER_MESSAGE
        },
    }
}

/// Whether the bytes start like a picture or video file.
fn looks_like_image(bytes: &[u8]) -> bool {
    const SIGNATURES: &[&[u8]] = &[
        b"\xFF\xD8\xFF",                     // JPEG
        b"\x89PNG\r\n\x1A\n",                // PNG
        b"GIF87a",                           // GIF
        b"GIF89a",                           // GIF
        b"BM",                               // BMP
        b"II*\0",                            // TIFF, little-endian (and many camera raws)
        b"MM\0*",                            // TIFF, big-endian
        b"\0\0\x01\0",                       // ICO
        b"\0\0\x02\0",                       // CUR
        b"\xFF\x0A",                         // JPEG XL
        b"\0\0\0\x0CJXL \r\n\x87\n",         // JPEG XL container
        b"8BPS",                             // Photoshop
        b"\x1A\x45\xDF\xA3",                 // Matroska and WebM video
        b"\0\0\x01\xBA",                     // MPEG video
        b"\0\0\x01\xB3",                     // MPEG video
        b"\x30\x26\xB2\x75\x8E\x66\xCF\x11", // Windows Media video
    ];
    if SIGNATURES
        .iter()
        .any(|signature| bytes.starts_with(signature))
    {
        return true;
    }
    // RIFF containers: WebP pictures and AVI videos.
    if bytes.starts_with(b"RIFF") && matches!(bytes.get(8..12), Some(b"WEBP") | Some(b"AVI ")) {
        return true;
    }
    // ISO media ("ftyp" box): HEIC, HEIF and AVIF pictures, and MP4, MOV and 3GP videos.
    // Every such file with a brand is treated as a picture or video: the format is only used
    // for them (and for audio, which is refused as any file would be).
    if bytes.get(4..8) == Some(b"ftyp") {
        return true;
    }
    contains_svg_tag(bytes)
}

/// SVG is text: look for an `<svg` tag near the start, in any case.
fn contains_svg_tag(bytes: &[u8]) -> bool {
    let start = bytes.get(..bytes.len().min(4096)).unwrap_or_default();
    start
        .windows(4)
        .any(|window| window.eq_ignore_ascii_case(b"<svg"))
}

fn image_content_type(content_type: &str) -> bool {
    let media_type = content_type.trim().to_ascii_lowercase();
    media_type.starts_with("image/") || media_type.starts_with("video/")
}

fn image_extension(filename: &str) -> bool {
    const EXTENSIONS: &[&str] = &[
        "jpg", "jpeg", "jpe", "jfif", "png", "apng", "gif", "webp", "bmp", "dib", "tif", "tiff",
        "heic", "heif", "avif", "ico", "cur", "svg", "svgz", "jxl", "psd", "dng", "cr2", "nef",
        "arw", "raw", "mp4", "m4v", "mov", "avi", "mkv", "webm", "3gp", "wmv", "mpg", "mpeg",
    ];
    let extension = filename
        .trim()
        .trim_end_matches('.')
        .rsplit_once('.')
        .map(|(_, extension)| extension.to_ascii_lowercase());
    extension.is_some_and(|extension| EXTENSIONS.contains(&extension.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const IMAGE_STARTS: &[&[u8]] = &[
        b"\xFF\xD8\xFF\xE0\0\x10JFIF",
        b"\x89PNG\r\n\x1A\n\0\0\0\rIHDR",
        b"GIF89a\x01\0\x01\0",
        b"RIFF\x24\0\0\0WEBPVP8 ",
        b"BM\x36\0\x0C\0",
        b"II*\0\x08\0\0\0",
        b"MM\0*\0\0\0\x08",
        b"\0\0\0\x18ftypheic\0\0\0\0",
        b"\0\0\0\x1CftypavifX",
        b"\0\0\x01\0\x01\0\x10\x10",
        b"<?xml version=\"1.0\"?>\n<SVG xmlns=\"http://www.w3.org/2000/svg\">",
        b"\0\0\0\x20ftypisom\0\0\x02\0",
    ];

    #[test]
    fn pictures_are_refused_with_the_indecent_images_explanation() {
        for start in IMAGE_STARTS {
            let refusal = refuse("notes.txt", "text/plain", start);
            assert!(refusal.is_image, "{start:?}");
            assert!(refusal.message.contains("secure the device"));
            assert!(refusal.message.contains("designated safeguarding"));
        }
        assert!(refuse("IMG_0001.HEIC", "application/octet-stream", b"").is_image);
        assert!(refuse("clip", "Video/MP4", b"").is_image);
        assert!(refuse("photo.jpg.", "", b"hello").is_image);
    }

    #[test]
    fn other_files_are_refused_and_asked_to_be_described() {
        for (name, content_type, bytes) in [
            (
                "notes.txt",
                "text/plain",
                &b"Said he would wait outside"[..],
            ),
            ("report.pdf", "application/pdf", b"%PDF-1.7\n"),
            ("", "", b""),
            ("jpg", "", b"B"),
        ] {
            let refusal = refuse(name, content_type, bytes);
            assert!(!refusal.is_image, "{name}");
            assert_eq!(refusal.message, OTHER_MESSAGE);
        }
    }

    proptest! {
        #[test]
        fn a_picture_is_recognised_whatever_its_name_or_type(
            which in 0..IMAGE_STARTS.len(),
            rest in proptest::collection::vec(any::<u8>(), 0..64),
            name in ".{0,40}",
            content_type in "[a-z/.+-]{0,30}",
        ) {
            let mut bytes = IMAGE_STARTS[which].to_vec();
            bytes.extend(rest);
            prop_assert!(refuse(&name, &content_type, &bytes).is_image);
        }

        #[test]
        fn every_upload_is_refused_with_a_message(
            bytes in proptest::collection::vec(any::<u8>(), 0..256),
            name in ".{0,40}",
            content_type in ".{0,30}",
        ) {
            let refusal = refuse(&name, &content_type, &bytes);
            prop_assert_eq!(refusal.message, if refusal.is_image { IMAGE_MESSAGE } else { OTHER_MESSAGE });
        }
    }
}

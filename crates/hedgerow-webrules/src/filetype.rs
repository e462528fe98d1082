//! Downloads: whether a response is a file of a kind schools block (programs, installers,
//! scripts, disk images, archives), judged from the request path, `Content-Type` and
//! `Content-Disposition`.
//!
//! The evidence is read the way a browser decides what to save and under what name, and
//! leans towards blocking where browsers differ: every file name a `Content-Disposition`
//! offers is checked, not only the one a given browser would pick.
//!
//! Two extensions are judged only from a file name the server gives (`Content-Disposition`),
//! never from a URL path: `.js`, because every page loads scripts by URL, and `.com`, because
//! paths end in domain names (`/whois/example.com`) far more often than in DOS programs.

use std::fmt;

use crate::url;

/// A kind of download a school may block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FileClass {
    /// Programs that run as they are: `.exe`, `.scr`, `.dll`, `.jar`, ELF binaries, ...
    Executable,
    /// Packages that install software: `.msi`, `.msix`, `.apk`, `.deb`, browser extensions, ...
    Installer,
    /// Scripts the operating system runs on a double-click: `.bat`, `.ps1`, `.vbs`, `.hta`, ...
    Script,
    /// Disk images that mount as a drive, often to carry an installer past a filter: `.iso`,
    /// `.dmg`, `.vhd`, ...
    DiskImage,
    /// Archives, which can carry any of the above: `.zip`, `.rar`, `.7z`, `.tar.gz`, ...
    Archive,
}

impl FileClass {
    pub const ALL: [FileClass; 5] = [
        FileClass::Executable,
        FileClass::Installer,
        FileClass::Script,
        FileClass::DiskImage,
        FileClass::Archive,
    ];

    /// The key used in configuration and stored events.
    pub fn key(self) -> &'static str {
        match self {
            FileClass::Executable => "executables",
            FileClass::Installer => "installers",
            FileClass::Script => "scripts",
            FileClass::DiskImage => "disk-images",
            FileClass::Archive => "archives",
        }
    }

    /// The class with this [`key`](FileClass::key), ignoring ASCII case.
    pub fn parse(key: &str) -> Option<FileClass> {
        FileClass::ALL
            .into_iter()
            .find(|class| class.key().eq_ignore_ascii_case(key))
    }
}

impl fmt::Display for FileClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.key())
    }
}

use FileClass::{Archive, DiskImage, Executable, Installer, Script};

const EXTENSIONS: &[(&str, FileClass)] = &[
    ("exe", Executable),
    ("com", Executable),
    ("scr", Executable),
    ("pif", Executable),
    ("cpl", Executable),
    ("dll", Executable),
    ("bin", Executable),
    ("elf", Executable),
    ("jar", Executable),
    ("appimage", Executable),
    ("msi", Installer),
    ("msix", Installer),
    ("msixbundle", Installer),
    ("appx", Installer),
    ("appxbundle", Installer),
    ("appinstaller", Installer),
    ("pkg", Installer),
    ("mpkg", Installer),
    ("deb", Installer),
    ("rpm", Installer),
    ("apk", Installer),
    ("xapk", Installer),
    ("apks", Installer),
    ("ipa", Installer),
    ("crx", Installer),
    ("xpi", Installer),
    ("run", Installer),
    ("snap", Installer),
    ("flatpak", Installer),
    ("bat", Script),
    ("cmd", Script),
    ("ps1", Script),
    ("psm1", Script),
    ("vbs", Script),
    ("vbe", Script),
    ("js", Script),
    ("jse", Script),
    ("wsf", Script),
    ("wsh", Script),
    ("hta", Script),
    ("sh", Script),
    ("bash", Script),
    ("command", Script),
    ("reg", Script),
    ("lnk", Script),
    ("scpt", Script),
    ("applescript", Script),
    ("iso", DiskImage),
    ("img", DiskImage),
    ("dmg", DiskImage),
    ("vhd", DiskImage),
    ("vhdx", DiskImage),
    ("vmdk", DiskImage),
    ("zip", Archive),
    ("rar", Archive),
    ("7z", Archive),
    ("tar", Archive),
    ("gz", Archive),
    ("tgz", Archive),
    ("bz2", Archive),
    ("tbz", Archive),
    ("tbz2", Archive),
    ("xz", Archive),
    ("txz", Archive),
    ("zst", Archive),
    ("lz", Archive),
    ("lzma", Archive),
    ("cab", Archive),
    ("arj", Archive),
    ("lzh", Archive),
];

const CONTENT_TYPES: &[(&str, FileClass)] = &[
    ("application/x-msdownload", Executable),
    ("application/x-msdos-program", Executable),
    ("application/x-dosexec", Executable),
    ("application/x-ms-dos-executable", Executable),
    ("application/x-winexe", Executable),
    ("application/vnd.microsoft.portable-executable", Executable),
    ("application/x-executable", Executable),
    ("application/x-elf", Executable),
    ("application/x-mach-binary", Executable),
    ("application/java-archive", Executable),
    ("application/x-java-archive", Executable),
    ("application/x-msi", Installer),
    ("application/x-ms-installer", Installer),
    ("application/msix", Installer),
    ("application/msixbundle", Installer),
    ("application/appx", Installer),
    ("application/appxbundle", Installer),
    ("application/appinstaller", Installer),
    ("application/vnd.ms-appx", Installer),
    ("application/vnd.android.package-archive", Installer),
    ("application/x-debian-package", Installer),
    ("application/vnd.debian.binary-package", Installer),
    ("application/x-rpm", Installer),
    ("application/x-redhat-package-manager", Installer),
    ("application/x-chrome-extension", Installer),
    ("application/x-xpinstall", Installer),
    ("application/vnd.apple.installer+xml", Installer),
    ("application/x-sh", Script),
    ("application/x-shellscript", Script),
    ("text/x-sh", Script),
    ("text/x-shellscript", Script),
    ("application/x-bat", Script),
    ("application/x-msdos-batch", Script),
    ("application/bat", Script),
    ("application/x-powershell", Script),
    ("application/hta", Script),
    ("application/x-hta", Script),
    ("text/vbscript", Script),
    ("application/x-vbscript", Script),
    ("application/x-apple-diskimage", DiskImage),
    ("application/x-iso9660-image", DiskImage),
    ("application/x-cd-image", DiskImage),
    ("application/x-raw-disk-image", DiskImage),
    ("application/x-vhd", DiskImage),
    ("application/zip", Archive),
    ("application/x-zip", Archive),
    ("application/x-zip-compressed", Archive),
    ("application/x-7z-compressed", Archive),
    ("application/vnd.rar", Archive),
    ("application/x-rar", Archive),
    ("application/x-rar-compressed", Archive),
    ("application/x-tar", Archive),
    ("application/x-gtar", Archive),
    ("application/gzip", Archive),
    ("application/x-gzip", Archive),
    ("application/x-bzip2", Archive),
    ("application/x-xz", Archive),
    ("application/zstd", Archive),
    ("application/x-compress", Archive),
    ("application/x-compressed", Archive),
    ("application/vnd.ms-cab-compressed", Archive),
];

/// Types a browser shows itself and does not sniff into a download, so a path ending in
/// `.exe` that answers with one of these is a page about a program, not the program.
const RENDERED_TYPES: &[&str] = &[
    "text/html",
    "text/css",
    "text/javascript",
    "text/xml",
    "text/event-stream",
    "application/xhtml+xml",
    "application/xml",
    "application/json",
    "application/javascript",
    "application/x-javascript",
    "application/ecmascript",
    "application/pdf",
    "application/wasm",
];

/// Where a name came from, which decides whether `.js` and `.com` count.
#[derive(Clone, Copy)]
enum Source {
    Path,
    /// A name from `Content-Disposition: inline`: the browser shows the response if it can,
    /// so a script named there runs as part of the page, not as a download.
    InlineName,
    SavedName,
}

/// The class of a URL path's last segment, by extension.
///
/// The query and fragment are ignored, path parameters (`;jsessionid=...`) are cut, the
/// segment is percent-decoded, and the extension compared without regard to ASCII case. A
/// path names no file class when its last segment is empty (`/`) or has no extension.
pub fn class_of_path(path: &str) -> Option<FileClass> {
    let (path, _) = url::split_path_query(path);
    let segment = path.rsplit('/').next().unwrap_or_default();
    let segment = segment.split(';').next().unwrap_or_default();
    class_of_name(&url::decode_path(segment), Source::Path)
}

/// The class of a file name a server gives for a download, by extension. Unlike a path,
/// `.js` and `.com` count here.
pub fn class_of_filename(name: &str) -> Option<FileClass> {
    class_of_name(name, Source::SavedName)
}

/// The class a `Content-Type` value names. Parameters are ignored and case does not matter.
///
/// `application/octet-stream` and its like name no class: they say only "bytes", so the
/// caller should judge by path and disposition, as [`classify_response`] does.
pub fn class_of_content_type(value: &[u8]) -> Option<FileClass> {
    let essence = media_type(value);
    CONTENT_TYPES
        .iter()
        .find(|(name, _)| essence.eq_ignore_ascii_case(name.as_bytes()))
        .map(|&(_, class)| class)
}

/// The class of the file a `Content-Disposition` value names.
///
/// Reads `filename="..."` (quoted or not, with backslash escapes, percent-escapes and RFC
/// 2047 encoded words, which browsers also accept), `filename*=UTF-8''...` (RFC 8187) and
/// its continuations (`filename*0*=...`). Every name offered is checked, and the first that
/// names a class wins. `.js` counts unless the disposition is `inline`.
pub fn class_of_disposition(value: &[u8]) -> Option<FileClass> {
    let disposition = Disposition::parse(value);
    let source = if disposition.inline {
        Source::InlineName
    } else {
        Source::SavedName
    };
    disposition
        .names
        .iter()
        .find_map(|name| class_of_name(name, source))
}

/// The class of a response, from the strongest evidence there is: the file name in
/// `Content-Disposition`, then `Content-Type`, then the request path.
///
/// The path counts when the type is missing or says only "bytes"
/// (`application/octet-stream` with `/setup.exe` is an executable), but not when the type
/// is one browsers display (`text/html` at `/download/setup.exe` is a download page). It
/// counts whatever the type when the response is an attachment without a file name,
/// because browsers then save it under the path's name.
pub fn classify_response(
    request_path: &str,
    content_type: Option<&[u8]>,
    disposition: Option<&[u8]>,
) -> Option<FileClass> {
    let mut nameless_attachment = false;
    if let Some(value) = disposition {
        let disposition = Disposition::parse(value);
        let source = if disposition.inline {
            Source::InlineName
        } else {
            Source::SavedName
        };
        if let Some(class) = disposition
            .names
            .iter()
            .find_map(|name| class_of_name(name, source))
        {
            return Some(class);
        }
        nameless_attachment = !disposition.inline && disposition.names.is_empty();
    }
    if let Some(value) = content_type {
        if let Some(class) = class_of_content_type(value) {
            return Some(class);
        }
        if !nameless_attachment && is_rendered(media_type(value)) {
            return None;
        }
    }
    class_of_path(request_path)
}

fn class_of_name(name: &str, source: Source) -> Option<FileClass> {
    // A name may carry a directory; Windows also drops trailing dots and spaces when it
    // saves, so `setup.exe.` lands as `setup.exe`.
    let name = name.rsplit(['/', '\\']).next().unwrap_or_default();
    let name = name.trim_end_matches(|c: char| c == '.' || c.is_whitespace() || c.is_control());
    let (_, extension) = name.rsplit_once('.')?;
    let extension = extension.trim();
    let not_here: &[&str] = match source {
        Source::Path => &["js", "com"],
        Source::InlineName => &["js"],
        Source::SavedName => &[],
    };
    if not_here
        .iter()
        .any(|skip| skip.eq_ignore_ascii_case(extension))
    {
        return None;
    }
    EXTENSIONS
        .iter()
        .find(|(known, _)| known.eq_ignore_ascii_case(extension))
        .map(|&(_, class)| class)
}

/// The media type without parameters or surrounding whitespace.
fn media_type(value: &[u8]) -> &[u8] {
    let essence = value.split(|&b| b == b';').next().unwrap_or_default();
    essence.trim_ascii()
}

fn is_rendered(essence: &[u8]) -> bool {
    let lower = essence.to_ascii_lowercase();
    RENDERED_TYPES.iter().any(|name| lower == name.as_bytes())
        || ["image/", "audio/", "video/", "font/"]
            .iter()
            .any(|prefix| lower.starts_with(prefix.as_bytes()))
        || lower.ends_with(b"+json")
        || lower.ends_with(b"+xml")
}

/// At most this many parameters are read, so a hostile header costs little.
const MAX_PARAMETERS: usize = 64;

/// A parsed `Content-Disposition`: whether it is `inline`, and every file name it offers,
/// decoded, best first.
struct Disposition {
    inline: bool,
    names: Vec<String>,
}

impl Disposition {
    fn parse(value: &[u8]) -> Disposition {
        let (kind, rest) = match value.iter().position(|&b| b == b';') {
            Some(at) => (
                value.get(..at).unwrap_or_default(),
                value.get(at..).unwrap_or_default(),
            ),
            None => (value, &[][..]),
        };
        // Some servers leave out the type (`filename=x.exe`). Browsers disagree on what that
        // means; reading it as an attachment is the stricter choice.
        let (kind, mut rest) = if kind.contains(&b'=') {
            (&[][..], value)
        } else {
            (kind, rest)
        };
        let inline = kind.trim_ascii().eq_ignore_ascii_case(b"inline");

        let mut extended: Option<String> = None;
        let mut plain: Option<Vec<u8>> = None;
        let mut parts: Vec<(u32, bool, Vec<u8>)> = Vec::new();
        for _ in 0..MAX_PARAMETERS {
            let Some((name, value, after)) = next_parameter(rest) else {
                break;
            };
            rest = after;
            let name = name.to_ascii_lowercase();
            if name == b"filename*" {
                extended.get_or_insert_with(|| decode_extended(&value));
            } else if name == b"filename" {
                plain.get_or_insert(value);
            } else if let Some(index) = name.strip_prefix(b"filename*") {
                // RFC 2231 continuations: `filename*0=`, `filename*1*=`, ...
                let (digits, encoded) = match index.strip_suffix(b"*") {
                    Some(digits) => (digits, true),
                    None => (index, false),
                };
                if let Some(number) = std::str::from_utf8(digits)
                    .ok()
                    .and_then(|digits| digits.parse::<u32>().ok())
                {
                    parts.push((number, encoded, value));
                }
            }
        }

        let mut names = Vec::new();
        names.extend(extended);
        if !parts.is_empty() {
            parts.sort_by_key(|&(number, _, _)| number);
            let mut joined = Vec::new();
            let mut charset_read = false;
            for (_, encoded, value) in &parts {
                if *encoded {
                    let value = if charset_read {
                        value.as_slice()
                    } else {
                        charset_read = true;
                        strip_charset(value).1
                    };
                    joined.extend_from_slice(&url::percent_decode(value));
                } else {
                    joined.extend_from_slice(value);
                }
            }
            names.push(String::from_utf8_lossy(&joined).into_owned());
        }
        if let Some(plain) = plain {
            let text = String::from_utf8_lossy(&plain).into_owned();
            if let Some(decoded) = decode_encoded_words(&text) {
                names.push(decoded);
            }
            let percent = url::decode_path(&text);
            if percent != text {
                names.push(percent);
            }
            names.push(text);
        }
        Disposition { inline, names }
    }
}

/// Reads `; name=value` from the start of `input`, returning the name, the value (quotes and
/// escapes removed) and the rest. A parameter without `=` yields an empty value.
fn next_parameter(input: &[u8]) -> Option<(&[u8], Vec<u8>, &[u8])> {
    let input = input.trim_ascii_start();
    let input = input.strip_prefix(b";").unwrap_or(input).trim_ascii_start();
    if input.is_empty() {
        return None;
    }
    let name_end = input
        .iter()
        .position(|&b| b == b'=' || b == b';')
        .unwrap_or(input.len());
    let name = input.get(..name_end).unwrap_or_default().trim_ascii();
    let rest = input.get(name_end..).unwrap_or_default();
    let Some(rest) = rest.strip_prefix(b"=") else {
        return Some((name, Vec::new(), rest));
    };
    let rest = rest.trim_ascii_start();
    if let Some(mut quoted) = rest.strip_prefix(b"\"") {
        let mut value = Vec::new();
        while let Some((&byte, tail)) = quoted.split_first() {
            quoted = tail;
            match byte {
                b'"' => break,
                b'\\' => {
                    if let Some((&escaped, tail)) = quoted.split_first() {
                        value.push(escaped);
                        quoted = tail;
                    }
                }
                _ => value.push(byte),
            }
        }
        // Anything between the closing quote and the next `;` is junk; skip it.
        let after = match quoted.iter().position(|&b| b == b';') {
            Some(at) => quoted.get(at..).unwrap_or_default(),
            None => &[][..],
        };
        Some((name, value, after))
    } else {
        let end = rest.iter().position(|&b| b == b';').unwrap_or(rest.len());
        let value = rest.get(..end).unwrap_or_default().trim_ascii().to_vec();
        Some((name, value, rest.get(end..).unwrap_or_default()))
    }
}

/// Splits `charset'language'rest` into the charset and the rest; a value without the two
/// quotes is taken as all rest.
fn strip_charset(value: &[u8]) -> (&[u8], &[u8]) {
    let mut pieces = value.splitn(3, |&b| b == b'\'');
    match (pieces.next(), pieces.next(), pieces.next()) {
        (Some(charset), Some(_language), Some(rest)) => (charset, rest),
        _ => (&[][..], value),
    }
}

/// Decodes an RFC 8187 `ext-value` (`UTF-8''setup%2Eexe`).
fn decode_extended(value: &[u8]) -> String {
    let (charset, encoded) = strip_charset(value);
    decode_charset(charset, &url::percent_decode(encoded))
}

/// Text in the named charset: ISO-8859-1 (the other charset RFC 8187 requires) byte by
/// byte, anything else as UTF-8, replacing what is invalid.
fn decode_charset(charset: &[u8], bytes: &[u8]) -> String {
    if charset.eq_ignore_ascii_case(b"iso-8859-1") || charset.eq_ignore_ascii_case(b"latin1") {
        bytes.iter().map(|&b| char::from(b)).collect()
    } else {
        String::from_utf8_lossy(bytes).into_owned()
    }
}

/// Decodes a name made of RFC 2047 encoded words (`=?UTF-8?B?c2V0dXAuZXhl?=`), which
/// browsers accept in `filename`. `None` unless the whole name is encoded words.
fn decode_encoded_words(text: &str) -> Option<String> {
    let mut rest = text.trim();
    if !rest.starts_with("=?") {
        return None;
    }
    let mut out = String::new();
    while !rest.is_empty() {
        let word = rest.strip_prefix("=?")?;
        let (charset, word) = word.split_once('?')?;
        let (encoding, word) = word.split_once('?')?;
        let (encoded, after) = word.split_once("?=")?;
        let bytes = match encoding {
            "B" | "b" => decode_base64(encoded.as_bytes())?,
            "Q" | "q" => decode_q(encoded.as_bytes()),
            _ => return None,
        };
        // RFC 2231 lets a language follow the charset: `UTF-8*en`.
        let charset = charset.split('*').next().unwrap_or_default();
        out.push_str(&decode_charset(charset.as_bytes(), &bytes));
        rest = after.trim_start();
    }
    Some(out)
}

/// The Q encoding is percent-encoding with `=` for `%` and `_` for a space.
fn decode_q(encoded: &[u8]) -> Vec<u8> {
    let escaped: Vec<u8> = encoded
        .iter()
        .map(|&b| match b {
            b'_' => b' ',
            b'=' => b'%',
            _ => b,
        })
        .collect();
    url::percent_decode(&escaped).into_owned()
}

fn decode_base64(encoded: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(encoded.len() / 4 * 3);
    let mut buffer: u32 = 0;
    let mut bits = 0;
    for &byte in encoded {
        let value = match byte {
            b'A'..=b'Z' => byte - b'A',
            b'a'..=b'z' => byte - b'a' + 26,
            b'0'..=b'9' => byte - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' => break,
            _ => return None,
        };
        buffer = (buffer << 6 | u32::from(value)) & 0x00ff_ffff;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push(u8::try_from((buffer >> bits) & 0xff).unwrap_or_default());
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip() {
        for class in FileClass::ALL {
            assert_eq!(FileClass::parse(class.key()), Some(class));
            assert_eq!(class.to_string(), class.key());
        }
        assert_eq!(FileClass::parse("Disk-Images"), Some(DiskImage));
        assert_eq!(FileClass::parse("exe"), None);
    }

    #[test]
    fn paths() {
        assert_eq!(class_of_path("/setup.EXE?x=1"), Some(Executable));
        assert_eq!(
            class_of_path("/downloads/Minecraft%20Installer.msi"),
            Some(Installer)
        );
        assert_eq!(class_of_path("/releases/tool-1.2.tar.gz"), Some(Archive));
        assert_eq!(class_of_path("/files/setup%2Eexe"), Some(Executable));
        assert_eq!(
            class_of_path("/files/setup.exe;jsessionid=ABC"),
            Some(Executable)
        );
        assert_eq!(class_of_path("/files/setup.exe.#frag"), Some(Executable));
        assert_eq!(class_of_path("/a%2Fb%5Cgame.iso"), Some(DiskImage));
        assert_eq!(class_of_path("/get.sh"), Some(Script));
        assert_eq!(class_of_path("/"), None);
        assert_eq!(class_of_path(""), None);
        assert_eq!(class_of_path("/download"), None);
        assert_eq!(class_of_path("/setup.exe/"), None);
        assert_eq!(class_of_path("/download?file=setup.exe"), None);
        assert_eq!(class_of_path("/static/app.js"), None);
        assert_eq!(class_of_path("/whois/example.com"), None);
        assert_eq!(class_of_path("/index.html"), None);
        assert_eq!(class_of_path("/.exe"), Some(Executable));
    }

    #[test]
    fn content_types() {
        assert_eq!(
            class_of_content_type(b"application/x-msdownload"),
            Some(Executable)
        );
        assert_eq!(
            class_of_content_type(b" Application/X-MSDownload ; charset=binary"),
            Some(Executable)
        );
        assert_eq!(
            class_of_content_type(b"application/vnd.android.package-archive"),
            Some(Installer)
        );
        assert_eq!(
            class_of_content_type(b"application/x-apple-diskimage"),
            Some(DiskImage)
        );
        assert_eq!(
            class_of_content_type(b"application/x-iso9660-image"),
            Some(DiskImage)
        );
        assert_eq!(class_of_content_type(b"application/zip"), Some(Archive));
        assert_eq!(class_of_content_type(b"application/vnd.rar"), Some(Archive));
        assert_eq!(class_of_content_type(b"application/hta"), Some(Script));
        assert_eq!(class_of_content_type(b"application/octet-stream"), None);
        assert_eq!(class_of_content_type(b"text/javascript"), None);
        assert_eq!(class_of_content_type(b"application/zipx"), None);
        assert_eq!(class_of_content_type(b""), None);
        assert_eq!(class_of_content_type(b"\xff\xfe;"), None);
    }

    #[test]
    fn dispositions() {
        let class = |value: &[u8]| class_of_disposition(value);
        assert_eq!(
            class(b"attachment; filename=\"setup.exe\""),
            Some(Executable)
        );
        assert_eq!(class(b"attachment; filename=setup.exe"), Some(Executable));
        assert_eq!(
            class(b"ATTACHMENT;FILENAME = \"Setup.Exe. \""),
            Some(Executable)
        );
        assert_eq!(
            class(b"attachment; filename*=UTF-8''setup%2Eexe"),
            Some(Executable)
        );
        assert_eq!(
            class(b"attachment; filename*=utf-8'en'%E2%82%AC%20rates.msi"),
            Some(Installer)
        );
        assert_eq!(
            class(b"attachment; filename*=iso-8859-1''%E9t%E9.zip"),
            Some(Archive)
        );
        assert_eq!(
            class(b"attachment; filename=\"notes.txt\"; filename*=UTF-8''run.bat"),
            Some(Script)
        );
        assert_eq!(
            class(b"attachment; filename=\"run.bat\"; filename*=UTF-8''notes.txt"),
            Some(Script)
        );
        assert_eq!(
            class(b"attachment; filename*0*=UTF-8''set; filename*1=\"up.e\"; filename*2=xe"),
            Some(Executable)
        );
        assert_eq!(class(b"attachment; filename=\"a\\\"b.vbs\""), Some(Script));
        assert_eq!(
            class(b"attachment; filename=\"=?UTF-8?B?c2V0dXAuZXhl?=\""),
            Some(Executable)
        );
        assert_eq!(
            class(b"attachment; filename=\"=?utf-8?Q?game=2Eiso?=\""),
            Some(DiskImage)
        );
        assert_eq!(
            class(b"attachment; filename=\"setup%2Eexe\""),
            Some(Executable)
        );
        assert_eq!(
            class(b"attachment; filename=\"C:\\\\Temp\\\\x.ps1\""),
            Some(Script)
        );
        assert_eq!(class(b"attachment; filename=\"payload.js\""), Some(Script));
        assert_eq!(class(b"inline; filename=\"payload.js\""), None);
        assert_eq!(class(b"inline; filename=\"tool.exe\""), Some(Executable));
        assert_eq!(
            class(b"attachment; filename=\"example.com\""),
            Some(Executable)
        );
        assert_eq!(class(b"attachment; filename=\"report.pdf\""), None);
        assert_eq!(class(b"attachment"), None);
        assert_eq!(
            class(b"attachment; filename=\"unterminated.exe"),
            Some(Executable)
        );
        assert_eq!(class(b""), None);
        assert_eq!(class(b";;;==\"\\"), None);
    }

    #[test]
    fn responses_take_the_strongest_evidence() {
        let exe_path = "/downloads/setup.exe";
        assert_eq!(
            classify_response(
                "/get",
                Some(b"text/plain"),
                Some(b"attachment; filename=x.zip")
            ),
            Some(Archive)
        );
        assert_eq!(
            classify_response("/get", Some(b"application/x-msdownload"), None),
            Some(Executable)
        );
        assert_eq!(
            classify_response(exe_path, Some(b"application/octet-stream"), None),
            Some(Executable)
        );
        assert_eq!(classify_response(exe_path, None, None), Some(Executable));
        assert_eq!(
            classify_response(exe_path, Some(b"text/plain"), None),
            Some(Executable)
        );
        assert_eq!(
            classify_response(exe_path, Some(b"text/html; charset=utf-8"), None),
            None
        );
        assert_eq!(
            classify_response(exe_path, Some(b"text/html"), Some(b"attachment")),
            Some(Executable)
        );
        assert_eq!(
            classify_response(
                exe_path,
                Some(b"text/html"),
                Some(b"attachment; filename=readme.txt")
            ),
            None
        );
        assert_eq!(
            classify_response("/app.js", Some(b"text/javascript"), None),
            None
        );
        assert_eq!(
            classify_response("/app.js", None, Some(b"attachment; filename=app.js")),
            Some(Script)
        );
        assert_eq!(
            classify_response("/logo.png", Some(b"image/png"), None),
            None
        );
        assert_eq!(
            classify_response("/feed", Some(b"application/atom+xml"), None),
            None
        );
    }

    #[test]
    fn base64_decodes() {
        assert_eq!(
            decode_base64(b"c2V0dXAuZXhl").as_deref(),
            Some(&b"setup.exe"[..])
        );
        assert_eq!(decode_base64(b"YQ==").as_deref(), Some(&b"a"[..]));
        assert_eq!(decode_base64(b"!!"), None);
    }
}

//! The `[admin]` table: how the admin app is served. Plain HTTP is allowed on loopback only
//! (or behind a reverse proxy that serves HTTPS); every mistake names its key and line and says
//! what to write instead.

use std::net::SocketAddr;
use std::path::PathBuf;

use hedgerow_config::{AdminSettings, AdminTls, Config, ConfigError};

const BASE: &str = r#"data_dir = "/var/lib/hedgerow"

[lists]
sources = []

[listeners]
admin = "127.0.0.1:8080"

[[school]]
slug = "oakfield"
name = "Oakfield"

[school.groups.unknown]
kind = "unidentified"
default = "block"
"#;

/// The base with the admin listener at `listen` and an `[admin]` table holding `table` (none
/// when `table` is `None`).
fn text_with(listen: &str, table: Option<&str>) -> String {
    let text = BASE.replace("127.0.0.1:8080", listen);
    match table {
        Some(table) => text.replace("[[school]]", &format!("[admin]\n{table}\n\n[[school]]")),
        None => text,
    }
}

fn parsed(text: &str) -> Config {
    Config::parse(text).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

fn errors(text: &str) -> Vec<ConfigError> {
    match Config::parse(text) {
        Ok(_) => panic!("expected errors for:\n{text}"),
        Err(errors) => errors.0,
    }
}

/// Asserts some error has this path, is on the line holding `needle`, and says every one of
/// `says`.
fn assert_error(text: &str, path: &str, needle: &str, says: &[&str]) {
    let errors = errors(text);
    let line = text
        .lines()
        .position(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("{needle:?} not in text"))
        + 1;
    assert!(
        errors.iter().any(|e| e.path == path
            && e.line == line
            && says.iter().all(|s| e.message.contains(s))),
        "wanted {path} on line {line} saying {says:?}; got:\n{}",
        errors
            .iter()
            .map(|e| format!("  {e}\n"))
            .collect::<String>()
    );
}

#[test]
fn plain_http_on_loopback_is_the_default() {
    for listen in ["127.0.0.1:8080", "127.0.0.9:8080", "[::1]:8080"] {
        let config = parsed(&text_with(listen, None));
        assert_eq!(config.admin, AdminSettings::default());
        assert_eq!(config.admin.tls, AdminTls::Off);
        assert!(
            !config.admin.secure_cookies(),
            "the demo's cookie over http"
        );
    }
    // Written out, the same.
    let config = parsed(&text_with("127.0.0.1:8080", Some("tls = \"off\"")));
    assert_eq!(config.admin, AdminSettings::default());
}

#[test]
fn plain_http_on_a_network_address_is_refused_with_the_choices() {
    for listen in [
        "10.20.0.2:8080",
        "0.0.0.0:8080",
        "[::]:8080",
        "[2001:db8::2]:443",
    ] {
        for table in [None, Some("tls = \"off\"")] {
            assert_error(
                &text_with(listen, table),
                "listeners.admin",
                "admin = ",
                &[
                    "plain HTTP",
                    "tls = \"school-ca\"",
                    "tls = \"files\"",
                    "cert and key",
                    "behind_tls_proxy = true",
                    "trusted_proxy",
                ],
            );
        }
    }
    // An IPv4 loopback address written as IPv6 is still loopback.
    parsed(&text_with("[::ffff:127.0.0.1]:8080", None));
}

#[test]
fn the_listener_check_is_there_for_command_line_addresses_too() {
    let lan: SocketAddr = "10.20.0.2:8443".parse().unwrap();
    let off = AdminSettings::default();
    assert!(off.check_listener(lan).unwrap_err().contains("school-ca"));
    assert!(
        off.check_listener("127.0.0.1:8443".parse().unwrap())
            .is_ok()
    );
    let school_ca = AdminSettings {
        tls: AdminTls::SchoolCa,
        ..AdminSettings::default()
    };
    assert!(school_ca.check_listener(lan).is_ok());
    assert!(school_ca.secure_cookies());
    // On every address the certificate needs names.
    let every = "0.0.0.0:8443".parse().unwrap();
    assert!(
        school_ca
            .check_listener(every)
            .unwrap_err()
            .contains("names")
    );
    let named = AdminSettings {
        names: vec!["hedgerow.school.lan".into()],
        ..school_ca
    };
    assert!(named.check_listener(every).is_ok());
    let proxied = AdminSettings {
        behind_tls_proxy: true,
        trusted_proxy: Some("10.0.0.5".parse().unwrap()),
        ..AdminSettings::default()
    };
    assert!(proxied.check_listener(lan).is_ok());
    assert!(proxied.secure_cookies(), "the browser sees HTTPS");
}

#[test]
fn school_ca_with_names() {
    let config = parsed(&text_with(
        "10.20.0.2:8443",
        Some(
            "tls = \"school-ca\"\nnames = [\"Hedgerow.School.LAN.\", \"10.20.0.3\", \"hedgerow.school.lan\"]",
        ),
    ));
    assert_eq!(config.admin.tls, AdminTls::SchoolCa);
    assert_eq!(
        config.admin.names,
        vec!["hedgerow.school.lan".to_string(), "10.20.0.3".to_string()],
        "normalised, without repeats"
    );
    assert!(config.admin.secure_cookies());
    assert!(!config.admin.behind_tls_proxy);

    // Loopback may use TLS too.
    let config = parsed(&text_with("127.0.0.1:8443", Some("tls = \"school-ca\"")));
    assert_eq!(config.admin.tls, AdminTls::SchoolCa);

    // Every address: names needed.
    assert_error(
        &text_with("0.0.0.0:8443", Some("tls = \"school-ca\"")),
        "listeners.admin",
        "admin = ",
        &["every address", "names = [\"hedgerow.school.lan\"]"],
    );
    parsed(&text_with(
        "0.0.0.0:8443",
        Some("tls = \"school-ca\"\nnames = [\"hedgerow.school.lan\"]"),
    ));
}

#[test]
fn certificate_files() {
    let config = parsed(&text_with(
        "10.20.0.2:443",
        Some(
            "tls = \"files\"\ncert = \"/etc/hedgerow/admin.pem\"\nkey = \" /etc/hedgerow/admin.key \"",
        ),
    ));
    assert_eq!(
        config.admin.tls,
        AdminTls::Files {
            cert: PathBuf::from("/etc/hedgerow/admin.pem"),
            key: PathBuf::from("/etc/hedgerow/admin.key"),
        }
    );
    assert!(config.admin.secure_cookies());
}

#[test]
fn behind_a_tls_proxy() {
    let config = parsed(&text_with(
        "10.20.0.2:8080",
        Some("behind_tls_proxy = true\ntrusted_proxy = \"10.0.0.5\""),
    ));
    assert_eq!(config.admin.tls, AdminTls::Off);
    assert!(config.admin.behind_tls_proxy);
    assert_eq!(
        config.admin.trusted_proxy,
        Some("10.0.0.5".parse().unwrap())
    );
    assert!(config.admin.secure_cookies());

    // An IPv4 proxy written in its IPv6-mapped form is kept as IPv4, as peers are compared.
    let config = parsed(&text_with(
        "[::]:8080",
        Some("behind_tls_proxy = true\ntrusted_proxy = \"::ffff:10.0.0.5\""),
    ));
    assert_eq!(
        config.admin.trusted_proxy,
        Some("10.0.0.5".parse().unwrap())
    );

    // On loopback, with the proxy on the same machine.
    let config = parsed(&text_with(
        "127.0.0.1:8080",
        Some("behind_tls_proxy = true\ntrusted_proxy = \"127.0.0.1\""),
    ));
    assert!(config.admin.secure_cookies());
}

#[test]
fn admin_mistakes_name_the_key_and_line() {
    let lan = |table: &str| text_with("10.20.0.2:8443", Some(table));
    assert_error(
        &lan("tls = \"school_ca\""),
        "admin.tls",
        "tls = ",
        &["unknown variant", "school-ca"],
    );
    assert_error(
        &lan("tls = \"school-ca\"\ncertificate = \"/x.pem\""),
        "admin.certificate",
        "certificate",
        &["unknown field"],
    );
    assert_error(
        &lan("tls = \"files\"\ncert = \"/etc/hedgerow/admin.pem\""),
        "admin.tls",
        "tls = ",
        &["needs key", "PEM private key"],
    );
    assert_error(
        &lan("tls = \"files\"\nkey = \"/etc/hedgerow/admin.key\""),
        "admin.tls",
        "tls = ",
        &["needs cert", "certificate chain"],
    );
    assert_error(
        &lan("tls = \"files\"\ncert = \" \"\nkey = \"/k.pem\""),
        "admin.cert",
        "cert = ",
        &["is empty"],
    );
    assert_error(
        &lan("tls = \"school-ca\"\ncert = \"/c.pem\""),
        "admin.cert",
        "cert = ",
        &["only used with tls = \"files\"", "tls is \"school-ca\""],
    );
    assert_error(
        &lan("tls = \"files\"\ncert = \"/c.pem\"\nkey = \"/k.pem\"\nnames = [\"a.lan\"]"),
        "admin.names[0]",
        "names = ",
        &["only used with tls = \"school-ca\""],
    );
    assert_error(
        &lan("tls = \"school-ca\"\nnames = [\"ok.lan\", \"*.school.lan\"]"),
        "admin.names[1]",
        "names = ",
        &["wildcard"],
    );
    assert_error(
        &lan("tls = \"school-ca\"\nnames = [\"bad..name\"]"),
        "admin.names[0]",
        "names = ",
        &["not a host name"],
    );
    assert_error(
        &lan("behind_tls_proxy = true"),
        "admin.behind_tls_proxy",
        "behind_tls_proxy",
        &["needs trusted_proxy", "lock everyone out"],
    );
    assert_error(
        &lan("behind_tls_proxy = true\ntrusted_proxy = \"proxy.school.lan\""),
        "admin.trusted_proxy",
        "trusted_proxy",
        &["not an IP address"],
    );
    assert_error(
        &lan("behind_tls_proxy = true\ntrusted_proxy = \"10.0.0.5:443\""),
        "admin.trusted_proxy",
        "trusted_proxy",
        &["no port"],
    );
    assert_error(
        &lan("tls = \"school-ca\"\nbehind_tls_proxy = true\ntrusted_proxy = \"10.0.0.5\""),
        "admin.behind_tls_proxy",
        "behind_tls_proxy",
        &["choose one"],
    );
    assert_error(
        &lan("tls = \"school-ca\"\ntrusted_proxy = \"10.0.0.5\""),
        "admin.trusted_proxy",
        "trusted_proxy",
        &["only used with behind_tls_proxy = true"],
    );
    assert_error(
        &lan("behind_tls_proxy = \"yes\""),
        "admin.behind_tls_proxy",
        "behind_tls_proxy",
        &[""],
    );

    // A mistake in the table is reported alone, not also as plain HTTP on the network.
    let text = lan("tls = \"files\"\ncert = \"/etc/hedgerow/admin.pem\"");
    assert!(
        errors(&text).iter().all(|e| e.path != "listeners.admin"),
        "{:?}",
        errors(&text)
    );
}

#[test]
fn no_admin_listener_needs_no_check() {
    let text = BASE.replace("[listeners]\nadmin = \"127.0.0.1:8080\"\n", "");
    let config = parsed(&text);
    assert!(!config.listeners.contains_key("admin"));
    // Settings for a listener given later on the command line are still checked for sense.
    let text = text.replace(
        "[[school]]",
        "[admin]\ntls = \"school-ca\"\nnames = [\"hedgerow.school.lan\"]\n\n[[school]]",
    );
    assert_eq!(parsed(&text).admin.names, vec!["hedgerow.school.lan"]);
}

#[test]
fn the_documented_example_serves_the_admin_app_over_https() {
    let doc = include_str!("../../../docs/configuration.md");
    let after = &doc[doc.find("## Complete example").expect("example heading")..];
    let start = after.find("```toml\n").expect("toml block") + "```toml\n".len();
    let end = after[start..].find("\n```").expect("end of block");
    let config = parsed(&after[start..start + end]);
    assert_eq!(config.listeners["admin"], "10.20.0.2:8443".parse().unwrap());
    assert_eq!(config.admin.tls, AdminTls::SchoolCa);
    assert_eq!(config.admin.names, vec!["hedgerow.oakfield.example"]);
    assert!(
        config
            .admin
            .check_listener(config.listeners["admin"])
            .is_ok()
    );
}

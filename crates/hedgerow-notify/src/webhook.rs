//! Alert webhooks: one JSON POST per alert over HTTP/1.1 with hyper, on a connection we open
//! ourselves (TCP, then rustls with the ring provider for https), so there is no pooling to
//! reason about and no redirect is ever followed.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use hyper::body::Bytes;
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HOST, HeaderValue, USER_AGENT};
use hyper::{Method, Request, Uri};
use hyper_util::rt::TokioIo;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use crate::NotifyError;

/// How to post webhooks.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookSettings {
    /// The most one post may take, connection included.
    pub timeout: Duration,
    /// Sent as `Authorization: Bearer <token>` when set.
    pub bearer_token: Option<String>,
    /// Certificates (DER) to trust besides Mozilla's roots, for a receiver inside the school
    /// whose certificate comes from the school's own CA.
    pub extra_roots: Vec<Vec<u8>>,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        WebhookSettings {
            timeout: Duration::from_secs(10),
            bearer_token: None,
            extra_roots: Vec::new(),
        }
    }
}

impl std::fmt::Debug for WebhookSettings {
    /// Leaves the token out, so settings can be logged.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookSettings")
            .field("timeout", &self.timeout)
            .field("bearer_token", &self.bearer_token.as_ref().map(|_| "(set)"))
            .field("extra_roots", &self.extra_roots.len())
            .finish()
    }
}

/// Posts alert JSON to webhook receivers.
#[derive(Clone)]
pub struct WebhookSender {
    timeout: Duration,
    authorization: Option<HeaderValue>,
    tls: TlsConnector,
}

impl std::fmt::Debug for WebhookSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookSender")
            .field("timeout", &self.timeout)
            .field(
                "authorization",
                &self.authorization.as_ref().map(|_| "(set)"),
            )
            .finish_non_exhaustive()
    }
}

/// A parsed webhook address.
struct Target {
    https: bool,
    /// For connecting and for the certificate: no brackets around IPv6 addresses.
    host: String,
    port: u16,
    /// For the `Host` header.
    authority: String,
    path_and_query: String,
}

impl Target {
    fn parse(url: &str) -> Result<Target, NotifyError> {
        let bad = |reason: &str| NotifyError::BadUrl {
            reason: reason.to_string(),
        };
        let uri: Uri = url
            .trim()
            .parse()
            .map_err(|_| bad("it is not a full URL starting with http:// or https://"))?;
        let https = match uri.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            Some(_) => return Err(bad("only http and https addresses are supported")),
            None => return Err(bad("it has no http:// or https:// at the start")),
        };
        let authority = uri.authority().ok_or_else(|| bad("it has no host name"))?;
        if authority.as_str().contains('@') {
            return Err(bad(
                "it carries a user name or password; put a token in the file named by webhook_token_file under [monitoring] instead",
            ));
        }
        let bracketed = authority.host();
        let host = bracketed.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() {
            return Err(bad("it has no host name"));
        }
        let port = authority.port_u16().unwrap_or(if https { 443 } else { 80 });
        Ok(Target {
            https,
            host: host.to_string(),
            port,
            authority: authority.as_str().to_string(),
            path_and_query: uri
                .path_and_query()
                .map_or_else(|| "/".to_string(), |p| p.as_str().to_string()),
        })
    }

    /// How errors name the receiver: scheme, host and port only, since the path of a chat
    /// webhook is often its secret.
    fn display(&self) -> String {
        let scheme = if self.https { "https" } else { "http" };
        if self.host.contains(':') {
            format!("{scheme}://[{}]:{}", self.host, self.port)
        } else {
            format!("{scheme}://{}:{}", self.host, self.port)
        }
    }
}

impl WebhookSender {
    /// Prepares the sender: checks the token and builds the TLS client configuration.
    pub fn new(settings: WebhookSettings) -> Result<Self, NotifyError> {
        let authorization = match settings.bearer_token {
            None => None,
            Some(token) => {
                let mut value = HeaderValue::from_str(&format!("Bearer {}", token.trim()))
                    .map_err(|_| NotifyError::BadToken)?;
                if token.trim().is_empty() || token.trim().contains(' ') {
                    return Err(NotifyError::BadToken);
                }
                value.set_sensitive(true);
                Some(value)
            }
        };
        let mut roots = rustls::RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        for der in settings.extra_roots {
            roots.add(CertificateDer::from(der)).map_err(|e| {
                NotifyError::TlsSetup(format!("an extra root certificate is unusable: {e}"))
            })?;
        }
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| NotifyError::TlsSetup(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
        Ok(WebhookSender {
            timeout: settings.timeout,
            authorization,
            tls: TlsConnector::from(Arc::new(config)),
        })
    }

    /// Posts `body` as JSON to `url`. Returns the receiver's status when it is 2xx; any other
    /// status (redirects included, which are not followed) is an error naming it.
    pub async fn post(&self, url: &str, body: &serde_json::Value) -> Result<u16, NotifyError> {
        let target = Target::parse(url)?;
        let bytes = Bytes::from(body.to_string());
        match tokio::time::timeout(self.timeout, self.exchange(&target, bytes)).await {
            Ok(result) => result,
            Err(_) => Err(NotifyError::WebhookTimeout {
                target: target.display(),
                seconds: self.timeout.as_secs().max(1),
            }),
        }
    }

    async fn exchange(&self, target: &Target, body: Bytes) -> Result<u16, NotifyError> {
        let mut request = Request::builder()
            .method(Method::POST)
            .uri(target.path_and_query.as_str())
            .header(HOST, target.authority.as_str())
            .header(CONTENT_TYPE, "application/json")
            .header(USER_AGENT, concat!("Hedgerow/", env!("CARGO_PKG_VERSION")));
        if let Some(authorization) = &self.authorization {
            request = request.header(AUTHORIZATION, authorization.clone());
        }
        let request =
            request
                .body(http_body_util::Full::new(body))
                .map_err(|e| NotifyError::BadUrl {
                    reason: e.to_string(),
                })?;

        let tcp = TcpStream::connect((target.host.as_str(), target.port))
            .await
            .map_err(|e| match e.kind() {
                io::ErrorKind::ConnectionRefused => NotifyError::WebhookRefused {
                    target: target.display(),
                },
                _ => NotifyError::WebhookConnect {
                    target: target.display(),
                    detail: e.to_string(),
                },
            })?;
        let _ = tcp.set_nodelay(true);
        if target.https {
            let name =
                ServerName::try_from(target.host.clone()).map_err(|_| NotifyError::BadUrl {
                    reason: "its host is not a valid name for a certificate".to_string(),
                })?;
            let tls = self
                .tls
                .connect(name, tcp)
                .await
                .map_err(|e| NotifyError::WebhookTls {
                    target: target.display(),
                    detail: e.to_string(),
                })?;
            send_over(TokioIo::new(tls), request, target).await
        } else {
            send_over(TokioIo::new(tcp), request, target).await
        }
    }
}

async fn send_over<I>(
    io: I,
    request: Request<http_body_util::Full<Bytes>>,
    target: &Target,
) -> Result<u16, NotifyError>
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let http_error = |e: hyper::Error| NotifyError::WebhookHttp {
        target: target.display(),
        detail: e.to_string(),
    };
    let (mut sender, connection) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(http_error)?;
    // The connection must be driven while the request is in flight; it ends with this post.
    let driver = tokio::spawn(connection);
    let response = sender.send_request(request).await;
    driver.abort();
    let status = response.map_err(http_error)?.status().as_u16();
    if (200..300).contains(&status) {
        Ok(status)
    } else {
        Err(NotifyError::WebhookStatus {
            target: target.display(),
            status,
            fix: NotifyError::status_fix(status),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_parsed_with_default_ports() {
        let t =
            Target::parse("https://chat.example/hooks/T0/B0/secret?x=1").map_err(|e| e.to_string());
        let t = t.as_ref().expect("valid");
        assert!(t.https);
        assert_eq!((t.host.as_str(), t.port), ("chat.example", 443));
        assert_eq!(t.path_and_query, "/hooks/T0/B0/secret?x=1");
        assert_eq!(t.display(), "https://chat.example:443");

        let t = Target::parse("http://[::1]:8080").map_err(|e| e.to_string());
        let t = t.as_ref().expect("valid");
        assert_eq!(
            (t.host.as_str(), t.port, t.path_and_query.as_str()),
            ("::1", 8080, "/")
        );
        assert_eq!(t.authority, "[::1]:8080");
        assert_eq!(t.display(), "http://[::1]:8080");
    }

    #[test]
    fn unusable_addresses_say_why() {
        for (url, why) in [
            ("", "starting with http:// or https://"),
            ("chat.example/hook", "http:// or https://"),
            ("ftp://chat.example/hook", "only http and https"),
            ("https://user:pw@chat.example/hook", "user name or password"),
            ("/relative", "http:// or https://"),
        ] {
            let err = Target::parse(url)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(err.contains(why), "{url}: {err}");
            assert!(err.contains("[school.monitoring]"), "{url}: {err}");
        }
    }

    #[test]
    fn tokens_must_fit_in_a_header_and_are_not_logged() {
        for bad in ["two words", "line\nbreak", " "] {
            let settings = WebhookSettings {
                bearer_token: Some(bad.into()),
                ..WebhookSettings::default()
            };
            assert!(
                matches!(WebhookSender::new(settings), Err(NotifyError::BadToken)),
                "{bad:?}"
            );
        }
        let settings = WebhookSettings {
            bearer_token: Some("s3cr3t-token".into()),
            ..WebhookSettings::default()
        };
        assert!(!format!("{settings:?}").contains("s3cr3t"));
        let sender = WebhookSender::new(settings).map_err(|e| e.to_string());
        assert!(!format!("{sender:?}").contains("s3cr3t"));
    }

    #[test]
    fn a_bad_extra_root_is_refused() {
        let settings = WebhookSettings {
            extra_roots: vec![b"not a certificate".to_vec()],
            ..WebhookSettings::default()
        };
        assert!(matches!(
            WebhookSender::new(settings),
            Err(NotifyError::TlsSetup(_))
        ));
    }
}

//! Alert webhooks against a small receiver on loopback, written here with hyper's server: what
//! arrives (method, path, content type, token, JSON) and how failures are reported, over plain
//! HTTP and over HTTPS with a test certificate.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use hedgerow_monitor::{AlertNotice, Detail, london, webhook_json};
use hedgerow_notify::{NotifyError, WebhookSender, WebhookSettings};
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::mpsc;

/// What the receiver saw of one request.
#[derive(Debug)]
struct Received {
    method: String,
    path: String,
    content_type: Option<String>,
    authorization: Option<String>,
    host: Option<String>,
    body: serde_json::Value,
}

/// A receiver answering every request with `status` (and `Location` for redirects). Returns
/// its port and the channel its requests arrive on.
async fn receiver(
    status: u16,
    tls: Option<tokio_rustls::TlsAcceptor>,
) -> (u16, mpsc::UnboundedReceiver<Received>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let tx = tx.clone();
            let tls = tls.clone();
            tokio::spawn(async move {
                let service = service_fn(move |request: Request<Incoming>| {
                    let tx = tx.clone();
                    async move {
                        let header = |name: &str| {
                            request
                                .headers()
                                .get(name)
                                .and_then(|v| v.to_str().ok())
                                .map(str::to_string)
                        };
                        let (method, path) =
                            (request.method().to_string(), request.uri().to_string());
                        let (content_type, authorization, host) = (
                            header("content-type"),
                            header("authorization"),
                            header("host"),
                        );
                        let bytes = request
                            .into_body()
                            .collect()
                            .await
                            .map(|b| b.to_bytes())
                            .unwrap_or_default();
                        let body =
                            serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
                        let _ = tx.send(Received {
                            method,
                            path,
                            content_type,
                            authorization,
                            host,
                            body,
                        });
                        let mut response = Response::builder().status(status);
                        if (300..400).contains(&status) {
                            response = response.header("location", "http://elsewhere.invalid/");
                        }
                        Ok::<_, Infallible>(
                            response
                                .body(Full::new(Bytes::from_static(b"ok")))
                                .unwrap_or_default(),
                        )
                    }
                });
                let builder = hyper::server::conn::http1::Builder::new();
                match tls {
                    Some(acceptor) => {
                        if let Ok(stream) = acceptor.accept(stream).await {
                            let _ = builder
                                .serve_connection(TokioIo::new(stream), service)
                                .await;
                        }
                    }
                    None => {
                        let _ = builder
                            .serve_connection(TokioIo::new(stream), service)
                            .await;
                    }
                }
            });
        }
    });
    (port, rx)
}

fn notice() -> AlertNotice {
    AlertNotice {
        alert_id: 77,
        school_name: "Oakfield Academy".into(),
        category_label: "Weapons and violence".into(),
        category: "weapons_violence".into(),
        severity: 4,
        person: Some("Sam Testpupil".into()),
        group: Some("Year 11".into()),
        device: None,
        at: "2026-12-07T21:15:00Z".parse().expect("timestamp"),
        count: 2,
        matched_text: "an invented test phrase".into(),
        link: "https://hedgerow.oakfield.example/alerts/77".into(),
        out_of_hours: true,
    }
}

fn sender(token: Option<&str>, extra_roots: Vec<Vec<u8>>) -> WebhookSender {
    WebhookSender::new(WebhookSettings {
        timeout: Duration::from_secs(5),
        bearer_token: token.map(str::to_string),
        extra_roots,
    })
    .expect("settings are valid")
}

#[tokio::test]
async fn the_alert_arrives_as_json_with_the_token() {
    let (port, mut requests) = receiver(204, None).await;
    let body = webhook_json(&notice(), Detail::Minimal, &london());
    let status = sender(Some("t0ken-for-tests"), Vec::new())
        .post(
            &format!("http://127.0.0.1:{port}/hooks/hedgerow?room=dsl"),
            &body,
        )
        .await
        .expect("posted");
    assert_eq!(status, 204);

    let got = requests.recv().await.expect("one request");
    assert_eq!(got.method, "POST");
    assert_eq!(got.path, "/hooks/hedgerow?room=dsl");
    assert_eq!(got.content_type.as_deref(), Some("application/json"));
    assert_eq!(got.authorization.as_deref(), Some("Bearer t0ken-for-tests"));
    assert_eq!(got.host, Some(format!("127.0.0.1:{port}")));
    assert_eq!(got.body, body);
    assert_eq!(got.body["alert_id"], 77);
    assert_eq!(got.body["out_of_hours"], true);
    assert!(got.body.get("person").is_none());
}

#[tokio::test]
async fn no_token_means_no_authorization_header() {
    let (port, mut requests) = receiver(200, None).await;
    let body = webhook_json(&notice(), Detail::Full, &london());
    sender(None, Vec::new())
        .post(&format!("http://127.0.0.1:{port}"), &body)
        .await
        .expect("posted");
    let got = requests.recv().await.expect("one request");
    assert_eq!(got.path, "/");
    assert_eq!(got.authorization, None);
    assert_eq!(got.body["person"], "Sam Testpupil");
}

#[tokio::test]
async fn a_server_error_is_an_error_naming_the_status_but_not_the_path() {
    let (port, mut requests) = receiver(500, None).await;
    let err = sender(None, Vec::new())
        .post(
            &format!("http://127.0.0.1:{port}/hooks/SECRET-PATH"),
            &webhook_json(&notice(), Detail::Minimal, &london()),
        )
        .await
        .expect_err("500 is a failure");
    assert!(
        matches!(err, NotifyError::WebhookStatus { status: 500, .. }),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(
        text.contains(&format!("http://127.0.0.1:{port} answered HTTP 500")),
        "{text}"
    );
    assert!(!text.contains("SECRET-PATH"), "{text}");
    assert!(requests.recv().await.is_some(), "the receiver did get it");
}

#[tokio::test]
async fn redirects_are_not_followed() {
    let (port, mut requests) = receiver(302, None).await;
    let err = sender(None, Vec::new())
        .post(
            &format!("http://127.0.0.1:{port}/old"),
            &webhook_json(&notice(), Detail::Minimal, &london()),
        )
        .await
        .expect_err("a redirect is a failure");
    assert!(
        matches!(err, NotifyError::WebhookStatus { status: 302, .. }),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("redirects are not followed"),
        "{err}"
    );
    assert!(requests.recv().await.is_some());
    assert!(requests.try_recv().is_err(), "exactly one request");
}

#[tokio::test]
async fn a_closed_port_is_refused() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port");
    let err = sender(None, Vec::new())
        .post(
            &format!("http://127.0.0.1:{port}/hook"),
            &webhook_json(&notice(), Detail::Minimal, &london()),
        )
        .await
        .expect_err("nothing listens");
    assert!(matches!(err, NotifyError::WebhookRefused { .. }), "{err:?}");
    assert!(err.to_string().contains("refused the connection"), "{err}");
}

#[tokio::test]
async fn a_silent_receiver_times_out() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let hold = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    });
    let quick = WebhookSender::new(WebhookSettings {
        timeout: Duration::from_millis(500),
        ..WebhookSettings::default()
    })
    .expect("settings");
    let err = quick
        .post(
            &format!("http://127.0.0.1:{port}/hook"),
            &webhook_json(&notice(), Detail::Minimal, &london()),
        )
        .await
        .expect_err("no answer");
    assert!(matches!(err, NotifyError::WebhookTimeout { .. }), "{err:?}");
    hold.abort();
}

#[tokio::test]
async fn https_with_a_trusted_certificate_works_and_an_untrusted_one_does_not() {
    let rcgen::CertifiedKey { cert, signing_key } =
        rcgen::generate_simple_self_signed(vec!["localhost".to_string()])
            .expect("test certificate");
    let cert_der = cert.der().to_vec();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(signing_key.serialize_der().into());
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("protocols")
    .with_no_client_auth()
    .with_single_cert(vec![cert_der.clone().into()], key)
    .expect("server certificate");
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let (port, mut requests) = receiver(200, Some(acceptor)).await;
    let url = format!("https://localhost:{port}/hook");
    let body = webhook_json(&notice(), Detail::Minimal, &london());

    let status = sender(Some("tls-token"), vec![cert_der])
        .post(&url, &body)
        .await
        .expect("posted over TLS");
    assert_eq!(status, 200);
    let got = requests.recv().await.expect("request");
    assert_eq!(got.authorization.as_deref(), Some("Bearer tls-token"));
    assert_eq!(got.body, body);

    let err = sender(None, Vec::new())
        .post(&url, &body)
        .await
        .expect_err("self-signed certificate is not trusted by default");
    assert!(matches!(err, NotifyError::WebhookTls { .. }), "{err:?}");
    assert!(
        requests.try_recv().is_err(),
        "nothing was sent without a trusted certificate"
    );
}

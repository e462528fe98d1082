//! One client connection: read request heads, decide, forward, stream the response back, and
//! repeat while both sides keep the connection alive.
//!
//! The same loop serves plain connections and the decrypted inside of inspected tunnels
//! (where requests arrive in origin form and the tunnel says where they go). Every wait has
//! a deadline, every buffer a bound, and every error a response that says what went wrong.

use std::sync::Arc;
use std::time::Instant;

use hedgerow_proxy_wire::{
    BodyFraming, ChunkedDecoder, HOP_BY_HOP, HeadError, Headers, Host, RequestHead, RequestTarget,
    ResponseHead, Scheme, TitleScanner, Version, parse_request_head_with, parse_response_head_with,
};
use tokio::net::TcpStream;

use crate::Shared;
use crate::hooks::{
    Client, LocalRequest, LocalResponse, ProxyHooks, RequestDecision, RequestInfo,
    ResponseDecision, Summary, TunnelInfo, UpstreamFailure,
};
use crate::io::{Io, read_more, write_all};
use crate::upstream::OriginConn;

/// The `Via` token this proxy adds; seeing it on an incoming request means a loop.
const VIA: &str = "1.1 hedgerow";
/// Most request body read and thrown away to keep a connection after answering a request
/// locally; a larger body closes the connection instead.
const MAX_DRAIN: u64 = 1024 * 1024;

/// A client-side stream with the bytes read from it but not yet used.
pub(crate) struct ClientConn<S> {
    pub io: S,
    pub buf: Vec<u8>,
}

pub(crate) enum LoopEnd {
    Done,
    Connect(RequestHead),
}

pub(crate) async fn serve_client<H: ProxyHooks>(
    shared: Arc<Shared<H>>,
    stream: TcpStream,
    client: Client,
) {
    let mut conn = ClientConn {
        io: stream,
        buf: Vec::with_capacity(4096),
    };
    if let LoopEnd::Connect(head) = http_loop(&shared, &mut conn, client, None).await {
        crate::tunnel::handle_connect(&shared, conn, client, head).await;
    }
}

/// Serves requests until the connection ends, or until a CONNECT asks to turn it into a
/// tunnel (plain connections only).
pub(crate) async fn http_loop<H: ProxyHooks, S: Io>(
    shared: &Arc<Shared<H>>,
    conn: &mut ClientConn<S>,
    client: Client,
    tunnel: Option<&TunnelInfo>,
) -> LoopEnd {
    let mut stop = shared.stop.clone();
    loop {
        if *stop.borrow() {
            return LoopEnd::Done;
        }
        if conn.buf.is_empty() {
            let read = tokio::select! {
                _ = stop.changed() => return LoopEnd::Done,
                read = read_more(&mut conn.io, &mut conn.buf, shared.config.idle_timeout) => read,
            };
            if !matches!(read, Ok(n) if n > 0) {
                return LoopEnd::Done;
            }
        }
        let head = match read_request_head(shared, conn).await {
            Ok(Some(head)) => head,
            Ok(None) => return LoopEnd::Done,
            Err(response) => {
                let _ = send_local(shared, &mut conn.io, &response, false, false).await;
                return LoopEnd::Done;
            }
        };
        let keep = match head.target.clone() {
            RequestTarget::Authority { .. } if head.method == "CONNECT" => {
                if tunnel.is_some() {
                    let response = LocalResponse::text(
                        400,
                        "CONNECT inside a tunnel is not supported. Send requests directly.",
                    )
                    .closing();
                    let _ = send_local(shared, &mut conn.io, &response, false, false).await;
                    return LoopEnd::Done;
                }
                return LoopEnd::Connect(head);
            }
            RequestTarget::Authority { .. } => {
                let response =
                    LocalResponse::text(400, "Only CONNECT requests may name just host:port.")
                        .closing();
                let _ = send_local(shared, &mut conn.io, &response, false, false).await;
                return LoopEnd::Done;
            }
            RequestTarget::Origin(path) => match tunnel {
                Some(tunnel) => {
                    let host = match host_header(&head) {
                        Some(Ok((host, _))) => host,
                        None => tunnel.host.clone(),
                        Some(Err(())) => {
                            let response =
                                LocalResponse::text(400, "The Host header is not valid.").closing();
                            let _ = send_local(shared, &mut conn.io, &response, false, false).await;
                            return LoopEnd::Done;
                        }
                    };
                    let port = tunnel.port;
                    exchange(
                        shared,
                        conn,
                        client,
                        Some(tunnel),
                        head,
                        Scheme::Https,
                        host,
                        port,
                        path,
                    )
                    .await
                }
                None => local(shared, conn, client, head, path).await,
            },
            RequestTarget::Absolute {
                scheme,
                host,
                port,
                path_and_query,
            } => {
                if tunnel.is_none() && shared.is_local(&host, port) {
                    local(shared, conn, client, head, path_and_query).await
                } else {
                    exchange(
                        shared,
                        conn,
                        client,
                        tunnel,
                        head,
                        scheme,
                        host,
                        port,
                        path_and_query,
                    )
                    .await
                }
            }
        };
        if !keep {
            return LoopEnd::Done;
        }
    }
}

/// The Host header as a host and optional port.
fn host_header(head: &RequestHead) -> Option<Result<(Host, Option<u16>), ()>> {
    let value = head.header("host")?;
    let text = std::str::from_utf8(value).map_err(|_| ());
    Some(text.and_then(|text| {
        let (host, port) = match text.rsplit_once(':') {
            Some((h, _)) if !h.ends_with(']') && h.contains(':') => (text, None),
            Some((h, p)) => (h, Some(p.parse::<u16>().map_err(|_| ())?)),
            None => (text, None),
        };
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        let host = if let Ok(ip) = bare.parse::<std::net::IpAddr>() {
            match ip {
                std::net::IpAddr::V4(a) => Host::Ipv4(a),
                std::net::IpAddr::V6(a) => Host::Ipv6(a),
            }
        } else {
            let name = bare.trim_end_matches('.').to_ascii_lowercase();
            if name.is_empty()
                || name.len() > 253
                || !name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
            {
                return Err(());
            }
            Host::Name(name)
        };
        Ok((host, port))
    }))
}

/// Reads until a whole request head is buffered. `Ok(None)`: the client closed before
/// finishing one. `Err`: the response explaining why the request was refused.
async fn read_request_head<H, S: Io>(
    shared: &Shared<H>,
    conn: &mut ClientConn<S>,
) -> Result<Option<RequestHead>, LocalResponse> {
    let deadline = Instant::now() + shared.config.header_timeout;
    loop {
        match parse_request_head_with(&conn.buf, &shared.config.limits) {
            Ok(Some((head, used))) => {
                conn.buf.drain(..used);
                return Ok(Some(head));
            }
            Ok(None) => {}
            Err(e) => return Err(head_error_response(&e)),
        }
        let left = deadline.saturating_duration_since(Instant::now());
        match read_more(&mut conn.io, &mut conn.buf, left).await {
            Ok(0) => return Ok(None),
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
                return Err(LocalResponse::text(
                    408,
                    "The request took too long to arrive. Check the connection and try again.",
                )
                .closing());
            }
            Err(_) => return Ok(None),
        }
    }
}

fn head_error_response(e: &HeadError) -> LocalResponse {
    metrics::counter!("hedgerow_proxy_bad_requests_total").increment(1);
    let advice = match e.status() {
        431 => "The request's headers are too large. Clear this site's cookies and try again.",
        414 => "The address is too long for the proxy to handle.",
        505 => "Use HTTP/1.1 or HTTP/1.0 through this proxy.",
        501 => "The request uses a transfer coding the proxy does not support.",
        _ => "The request could not be read. Check the client's proxy settings.",
    };
    LocalResponse::text(e.status(), format!("{advice} ({e})")).closing()
}

/// Serves a request addressed to the proxy itself.
async fn local<H: ProxyHooks, S: Io>(
    shared: &Arc<Shared<H>>,
    conn: &mut ClientConn<S>,
    client: Client,
    head: RequestHead,
    path: String,
) -> bool {
    let framing = match head.body() {
        Ok(f) => f,
        Err(e) => {
            let _ = send_local(shared, &mut conn.io, &head_error_response(&e), false, false).await;
            return false;
        }
    };
    let limit = shared.config.max_local_body as u64;
    let mut body = Vec::new();
    let read = {
        let mut sink = VecSink(&mut body);
        copy_body(
            &mut conn.io,
            &mut conn.buf,
            &mut sink,
            framing,
            CopyOptions {
                dechunk: true,
                max: Some(limit),
                timeout: shared.config.io_timeout,
                prefix: Vec::new(),
                tee: None,
            },
        )
        .await
    };
    if let Err(e) = read {
        let response = match e {
            CopyError::TooLarge => LocalResponse::text(
                413,
                format!("The form is larger than {limit} bytes. Shorten it and send it again."),
            ),
            _ => LocalResponse::text(400, "The request body could not be read."),
        }
        .closing();
        let _ = send_local(shared, &mut conn.io, &response, false, false).await;
        return false;
    }
    let request = LocalRequest {
        client,
        method: &head.method,
        path_and_query: &path,
        headers: &head.headers,
        body: &body,
    };
    let response = shared.hooks.local(&request).await;
    let keep = head.keep_alive() && !response.close;
    send_local(shared, &mut conn.io, &response, keep, head.method == "HEAD")
        .await
        .is_ok()
        && keep
}

/// Decides one request and, if it may go, forwards it. Returns whether the client
/// connection can carry another request.
#[allow(clippy::too_many_arguments)]
async fn exchange<H: ProxyHooks, S: Io>(
    shared: &Arc<Shared<H>>,
    conn: &mut ClientConn<S>,
    client: Client,
    tunnel: Option<&TunnelInfo>,
    head: RequestHead,
    scheme: Scheme,
    host: Host,
    port: u16,
    path: String,
) -> bool {
    let started = Instant::now();
    metrics::counter!("hedgerow_proxy_requests_total").increment(1);
    let client_keep = head.keep_alive();
    let framing = match head.body() {
        Ok(f) => f,
        Err(e) => {
            let _ = send_local(shared, &mut conn.io, &head_error_response(&e), false, false).await;
            return false;
        }
    };
    let looped = head
        .headers
        .get_all("via")
        .any(|v| String::from_utf8_lossy(v).contains(VIA));
    if looped {
        let response = LocalResponse::text(
            508,
            "This request has already passed through this proxy: the proxy settings loop.",
        )
        .closing();
        let _ = send_local(shared, &mut conn.io, &response, false, false).await;
        return false;
    }
    let info = RequestInfo {
        client,
        method: &head.method,
        scheme,
        host: &host,
        port,
        path_and_query: &path,
        headers: &head.headers,
        tunnel,
    };
    let decision = shared.hooks.request(&info).await;
    let (mut ctx, rewrite, set_headers) = match decision {
        RequestDecision::Respond { ctx, response } => {
            let drained = drain_body(shared, conn, framing).await;
            let keep = client_keep && !response.close && drained;
            let sent = send_local(shared, &mut conn.io, &response, keep, head.method == "HEAD")
                .await
                .is_ok();
            if let Some(ctx) = ctx {
                let summary = Summary {
                    status: response.status,
                    bytes_down: response.body.len() as u64,
                    duration: started.elapsed(),
                    ..Summary::default()
                };
                shared.hooks.finished(ctx, &summary);
            }
            return keep && sent;
        }
        RequestDecision::Forward {
            ctx,
            rewrite,
            set_headers,
        } => (ctx, rewrite, set_headers),
    };
    let path = rewrite.unwrap_or(path);
    // A client waiting for `100 Continue` before sending its body is answered here: the body
    // is streamed straight on, so waiting for the origin's interim answer would stall both.
    let answered_expect = framing != BodyFraming::Empty
        && head
            .header("expect")
            .is_some_and(|v| v.eq_ignore_ascii_case(b"100-continue"));
    if answered_expect
        && write_all(
            &mut conn.io,
            b"HTTP/1.1 100 Continue\r\n\r\n",
            shared.config.io_timeout,
        )
        .await
        .is_err()
    {
        return false;
    }
    // Inside a tunnel the bytes go where the tunnel goes, whatever the Host field says.
    let (origin_host, origin_port, tls_name) = match tunnel {
        Some(t) => {
            let name = t.sni.clone().unwrap_or_else(|| t.host.to_string());
            (t.host.clone(), t.port, Some(name))
        }
        None if scheme == Scheme::Https => {
            let name = match &host {
                Host::Ipv6(a) => a.to_string(),
                other => other.to_string(),
            };
            (host.clone(), port, Some(name))
        }
        None => (host.clone(), port, None),
    };

    let mut summary = Summary::default();
    let mut attempt = 0;
    let (mut origin, response) = loop {
        attempt += 1;
        let mut origin = match shared
            .upstream
            .http(&origin_host, origin_port, tls_name.as_deref())
            .await
        {
            Ok(origin) => origin,
            Err(failure) => {
                return fail(shared, conn, client_keep, framing, ctx, &failure, started).await;
            }
        };
        let mut out = Vec::with_capacity(1024);
        write_request_head(
            &mut out,
            &head,
            scheme,
            &host,
            port,
            &path,
            &set_headers,
            origin.absolute_form,
            answered_expect,
        );
        let body_result = copy_body(
            &mut conn.io,
            &mut conn.buf,
            &mut origin.io,
            framing,
            CopyOptions {
                dechunk: false,
                max: None,
                timeout: shared.config.io_timeout,
                prefix: out,
                tee: None,
            },
        )
        .await;
        match body_result {
            Ok(n) => summary.bytes_up = n,
            Err(CopyError::Destination(_)) if origin.reused && attempt == 1 => continue,
            Err(CopyError::Destination(e)) => {
                let failure = UpstreamFailure::Connect(e);
                return fail(
                    shared,
                    conn,
                    false,
                    BodyFraming::Empty,
                    ctx,
                    &failure,
                    started,
                )
                .await;
            }
            Err(_) => {
                // The client stopped sending its body; nothing sensible can follow.
                summary.error = Some("client closed during the request body".into());
                summary.duration = started.elapsed();
                shared.hooks.finished(ctx, &summary);
                return false;
            }
        }
        match read_response_head(shared, &mut origin).await {
            Ok(response) => break (origin, response),
            Err(_) if origin.reused && attempt == 1 && framing == BodyFraming::Empty => continue,
            Err(failure) => {
                return fail(
                    shared,
                    conn,
                    false,
                    BodyFraming::Empty,
                    ctx,
                    &failure,
                    started,
                )
                .await;
            }
        }
    };

    let (response, body) = match final_response(shared, conn, &mut origin, &head, response).await {
        Ok(Some(done)) => done,
        Ok(None) => return false,
        Err(failure) => {
            return fail(
                shared,
                conn,
                false,
                BodyFraming::Empty,
                ctx,
                &failure,
                started,
            )
            .await;
        }
    };
    let (max_body, read_title) = match shared.hooks.response(&mut ctx, &response) {
        ResponseDecision::Replace(local) => {
            let keep = client_keep && !local.close;
            let sent = send_local(shared, &mut conn.io, &local, keep, head.method == "HEAD")
                .await
                .is_ok();
            summary.status = local.status;
            summary.bytes_down = local.body.len() as u64;
            summary.duration = started.elapsed();
            shared.hooks.finished(ctx, &summary);
            return keep && sent;
        }
        ResponseDecision::Continue {
            max_body,
            read_title,
        } => (max_body, read_title),
    };
    // Only an uncompressed HTML body is copied (bounded) for its title; others pass untouched.
    let mut title = (read_title && is_plain_html(&response)).then(TitleScanner::new);
    // HTTP/1.0 clients cannot read chunked bodies: they get the data, ended by closing.
    let dechunk = body == BodyFraming::Chunked && head.version == Version::Http10;
    let client_keeps = client_keep && body != BodyFraming::CloseDelimited && !dechunk;
    let mut out = Vec::with_capacity(1024);
    write_response_head(
        &mut out,
        &response,
        Some(client_keeps),
        if dechunk {
            Version::Http10
        } else {
            head.version
        },
    );
    summary.status = response.status;
    let copied = copy_body(
        &mut origin.io,
        &mut origin.buf,
        &mut conn.io,
        body,
        CopyOptions {
            dechunk,
            max: max_body,
            timeout: shared.config.io_timeout,
            prefix: out,
            tee: title.as_mut(),
        },
    )
    .await;
    summary.duration = started.elapsed();
    summary.page_title = title.and_then(TitleScanner::finish);
    let keep = match copied {
        Ok(n) => {
            summary.bytes_down = n;
            if response.keep_alive() && body != BodyFraming::CloseDelimited {
                shared.upstream.release(origin);
            }
            client_keeps
        }
        Err(e) => {
            summary.error = Some(e.to_string());
            false
        }
    };
    shared.hooks.finished(ctx, &summary);
    keep
}

/// Passes interim responses (100 Continue, 103 Early Hints) straight to the client and returns
/// the final response head with its body's framing; `None` when the client went away.
async fn final_response<H, S: Io>(
    shared: &Shared<H>,
    conn: &mut ClientConn<S>,
    origin: &mut OriginConn,
    request: &RequestHead,
    mut response: ResponseHead,
) -> Result<Option<(ResponseHead, BodyFraming)>, UpstreamFailure> {
    while (100..200).contains(&response.status) {
        if response.status == 101 {
            return Err(UpstreamFailure::BadResponse(
                "unexpected protocol switch".into(),
            ));
        }
        let mut out = Vec::new();
        write_response_head(&mut out, &response, None, request.version);
        if write_all(&mut conn.io, &out, shared.config.io_timeout)
            .await
            .is_err()
        {
            return Ok(None);
        }
        response = read_response_head(shared, origin).await?;
    }
    let body = response
        .body(&request.method)
        .map_err(|e| UpstreamFailure::BadResponse(e.to_string()))?;
    Ok(Some((response, body)))
}

/// Answers a request whose origin could not be used, with the hooks' page.
async fn fail<H: ProxyHooks, S: Io>(
    shared: &Arc<Shared<H>>,
    conn: &mut ClientConn<S>,
    client_keep: bool,
    unread_body: BodyFraming,
    mut ctx: H::Ctx,
    failure: &UpstreamFailure,
    started: Instant,
) -> bool {
    metrics::counter!("hedgerow_proxy_upstream_failures_total").increment(1);
    let response = shared.hooks.upstream_failed(&mut ctx, failure);
    let drained = drain_body(shared, conn, unread_body).await;
    let keep = client_keep && drained && !response.close;
    let sent = send_local(shared, &mut conn.io, &response, keep, false)
        .await
        .is_ok();
    let summary = Summary {
        status: response.status,
        bytes_down: response.body.len() as u64,
        duration: started.elapsed(),
        error: Some(failure.to_string()),
        ..Summary::default()
    };
    shared.hooks.finished(ctx, &summary);
    keep && sent
}

/// Reads and discards a request body the proxy answered without forwarding, so the next
/// request on the connection starts in the right place. False: the connection must close.
async fn drain_body<H, S: Io>(
    shared: &Shared<H>,
    conn: &mut ClientConn<S>,
    framing: BodyFraming,
) -> bool {
    if framing == BodyFraming::Empty {
        return true;
    }
    let mut sink = DiscardSink;
    copy_body(
        &mut conn.io,
        &mut conn.buf,
        &mut sink,
        framing,
        CopyOptions {
            dechunk: true,
            max: Some(MAX_DRAIN),
            timeout: shared.config.io_timeout,
            prefix: Vec::new(),
            tee: None,
        },
    )
    .await
    .is_ok()
}

async fn read_response_head<H>(
    shared: &Shared<H>,
    origin: &mut OriginConn,
) -> Result<ResponseHead, UpstreamFailure> {
    loop {
        match parse_response_head_with(&origin.buf, &shared.config.limits) {
            Ok(Some((head, used))) => {
                origin.buf.drain(..used);
                return Ok(head);
            }
            Ok(None) => {}
            Err(e) => return Err(UpstreamFailure::BadResponse(e.to_string())),
        }
        match read_more(&mut origin.io, &mut origin.buf, shared.config.io_timeout).await {
            Ok(0) => {
                return Err(UpstreamFailure::BadResponse(
                    "the site closed the connection without answering".into(),
                ));
            }
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
                return Err(UpstreamFailure::Timeout);
            }
            Err(e) => return Err(UpstreamFailure::BadResponse(e.to_string())),
        }
    }
}

/// Writes the request head the origin (or parent proxy) receives: origin form (absolute for
/// a parent), hop-by-hop fields removed, Host matching the target, the hooks' fields set.
#[allow(clippy::too_many_arguments)]
fn write_request_head(
    out: &mut Vec<u8>,
    head: &RequestHead,
    scheme: Scheme,
    host: &Host,
    port: u16,
    path: &str,
    set_headers: &[(String, String)],
    absolute_form: bool,
    drop_expect: bool,
) {
    out.extend_from_slice(head.method.as_bytes());
    out.push(b' ');
    let authority = if port == scheme.default_port() {
        host.to_string()
    } else {
        format!("{host}:{port}")
    };
    if absolute_form {
        out.extend_from_slice(scheme.as_str().as_bytes());
        out.extend_from_slice(b"://");
        out.extend_from_slice(authority.as_bytes());
    }
    out.extend_from_slice(path.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\nHost: ");
    out.extend_from_slice(authority.as_bytes());
    out.extend_from_slice(b"\r\n");
    let hop = head.hop_by_hop_headers();
    let skip = |name: &str| {
        name == "host"
            || (drop_expect && name == "expect")
            || (name != "transfer-encoding" && hop.iter().any(|h| h == name))
            || HOP_BY_HOP.contains(&name) && name != "transfer-encoding"
            || set_headers
                .iter()
                .any(|(n, _)| n.eq_ignore_ascii_case(name))
    };
    write_fields(out, &head.headers, skip);
    for (name, value) in set_headers {
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"Via: ");
    out.extend_from_slice(VIA.as_bytes());
    out.extend_from_slice(b"\r\n\r\n");
}

fn write_fields(out: &mut Vec<u8>, headers: &Headers, skip: impl Fn(&str) -> bool) {
    for (name, value) in &headers.0 {
        if skip(name) {
            continue;
        }
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value);
        out.extend_from_slice(b"\r\n");
    }
}

/// Writes the response head the client receives. `keep`: `Some(false)` adds
/// `Connection: close`; `None` (interim responses) adds nothing.
fn write_response_head(
    out: &mut Vec<u8>,
    head: &ResponseHead,
    keep: Option<bool>,
    version: Version,
) {
    out.extend_from_slice(version.as_str().as_bytes());
    out.extend_from_slice(format!(" {:03} ", head.status).as_bytes());
    out.extend_from_slice(&head.reason);
    out.extend_from_slice(b"\r\n");
    let hop = head.hop_by_hop_headers();
    let dechunk = version == Version::Http10;
    let skip = |name: &str| {
        if name == "transfer-encoding" {
            return dechunk;
        }
        hop.iter().any(|h| h == name) || HOP_BY_HOP.contains(&name)
    };
    write_fields(out, &head.headers, skip);
    match keep {
        Some(false) => out.extend_from_slice(b"Connection: close\r\n"),
        Some(true) if version == Version::Http10 => {
            out.extend_from_slice(b"Connection: keep-alive\r\n")
        }
        _ => {}
    }
    out.extend_from_slice(b"\r\n");
}

/// Writes a response the proxy made itself.
pub(crate) async fn send_local<H, S: Io + ?Sized>(
    shared: &Shared<H>,
    io: &mut S,
    response: &LocalResponse,
    keep: bool,
    head_only: bool,
) -> std::io::Result<()> {
    let bytes = render_local(response, keep, head_only);
    write_all(io, &bytes, shared.config.io_timeout).await
}

pub(crate) fn render_local(response: &LocalResponse, keep: bool, head_only: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(256 + response.body.len());
    out.extend_from_slice(
        format!(
            "HTTP/1.1 {} {}\r\n",
            response.status,
            reason_phrase(response.status)
        )
        .as_bytes(),
    );
    for (name, value) in &response.headers {
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("Content-Length: {}\r\n", response.body.len()).as_bytes());
    if !keep {
        out.extend_from_slice(b"Connection: close\r\n");
    }
    out.extend_from_slice(b"\r\n");
    if !head_only {
        out.extend_from_slice(&response.body);
    }
    out
}

pub(crate) fn reason_phrase(status: u16) -> &'static str {
    match status {
        200 => "OK",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        307 => "Temporary Redirect",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        407 => "Proxy Authentication Required",
        408 => "Request Timeout",
        413 => "Content Too Large",
        414 => "URI Too Long",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        451 => "Unavailable For Legal Reasons",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        508 => "Loop Detected",
        _ => "Status",
    }
}

/// Where a copied body goes when it is not a socket.
trait Sink {
    fn put(&mut self, bytes: &[u8]);
}

struct VecSink<'a>(&'a mut Vec<u8>);
impl Sink for VecSink<'_> {
    fn put(&mut self, bytes: &[u8]) {
        self.0.extend_from_slice(bytes);
    }
}

struct DiscardSink;
impl Sink for DiscardSink {
    fn put(&mut self, _: &[u8]) {}
}

/// A destination for [`copy_body`]: a stream, or memory.
trait Dest: Send {
    fn send(
        &mut self,
        bytes: &[u8],
        timeout: std::time::Duration,
    ) -> impl std::future::Future<Output = std::io::Result<()>> + Send;
}

impl<T: Io + ?Sized> Dest for T {
    fn send(
        &mut self,
        bytes: &[u8],
        timeout: std::time::Duration,
    ) -> impl std::future::Future<Output = std::io::Result<()>> + Send {
        write_all(self, bytes, timeout)
    }
}

impl Dest for VecSink<'_> {
    fn send(
        &mut self,
        bytes: &[u8],
        _: std::time::Duration,
    ) -> impl std::future::Future<Output = std::io::Result<()>> + Send {
        self.put(bytes);
        std::future::ready(Ok(()))
    }
}

impl Dest for DiscardSink {
    fn send(
        &mut self,
        bytes: &[u8],
        _: std::time::Duration,
    ) -> impl std::future::Future<Output = std::io::Result<()>> + Send {
        self.put(bytes);
        std::future::ready(Ok(()))
    }
}

#[derive(Debug, thiserror::Error)]
enum CopyError {
    #[error("the sender closed the connection before the end of the body")]
    SourceClosed,
    #[error("reading the body failed: {0}")]
    Source(std::io::Error),
    #[error("sending the body failed: {0}")]
    Destination(std::io::Error),
    #[error("the body is larger than allowed")]
    TooLarge,
    #[error("invalid chunked body: {0}")]
    Chunked(hedgerow_proxy_wire::ChunkError),
}

struct CopyOptions<'a> {
    /// Send the decoded data rather than the chunked framing.
    dechunk: bool,
    /// Most body bytes passed before giving up with [`CopyError::TooLarge`].
    max: Option<u64>,
    timeout: std::time::Duration,
    /// Bytes sent first, together with the first body bytes (the head).
    prefix: Vec<u8>,
    /// Also shown the body's data (decoded from chunked framing) while it wants more.
    tee: Option<&'a mut TitleScanner>,
}

/// Shows body data to the title scanner, if there is one still looking.
fn tee_body(tee: &mut Option<&mut TitleScanner>, data: &[u8]) {
    if let Some(scanner) = tee
        && scanner.wants_more()
    {
        scanner.feed(data);
    }
}

/// Whether a response is an HTML page whose bytes can be read as they are: the title scanner
/// cannot see through compression.
fn is_plain_html(head: &ResponseHead) -> bool {
    let html = head.header("content-type").is_some_and(|value| {
        let media = value.split(|&b| b == b';').next().unwrap_or_default();
        let media = media.trim_ascii();
        media.eq_ignore_ascii_case(b"text/html")
            || media.eq_ignore_ascii_case(b"application/xhtml+xml")
    });
    let identity = head.headers.get_all("content-encoding").all(|value| {
        value
            .split(|&b| b == b',')
            .all(|coding| coding.trim_ascii().eq_ignore_ascii_case(b"identity"))
    });
    html && identity
}

/// Copies one body from `src` (whose already-read bytes are in `buf`) to `dst`, framed as
/// `framing`; bytes after the body stay in `buf`. Returns the body's length (decoded length
/// for chunked bodies).
async fn copy_body<R: Io + ?Sized, W: Dest + ?Sized>(
    src: &mut R,
    buf: &mut Vec<u8>,
    dst: &mut W,
    framing: BodyFraming,
    options: CopyOptions<'_>,
) -> Result<u64, CopyError> {
    let CopyOptions {
        dechunk,
        max,
        timeout,
        prefix,
        mut tee,
    } = options;
    let mut out = prefix;
    let mut total: u64 = 0;
    let over = |total: u64| max.is_some_and(|m| total > m);
    match framing {
        BodyFraming::Empty => {
            if !out.is_empty() {
                dst.send(&out, timeout)
                    .await
                    .map_err(CopyError::Destination)?;
            }
            Ok(0)
        }
        BodyFraming::Length(length) => {
            let mut remaining = length;
            loop {
                let take = (buf.len() as u64).min(remaining) as usize;
                if take > 0 {
                    total += take as u64;
                    if over(total) {
                        return Err(CopyError::TooLarge);
                    }
                    tee_body(&mut tee, &buf[..take]);
                    out.extend_from_slice(&buf[..take]);
                    buf.drain(..take);
                    remaining -= take as u64;
                }
                if !out.is_empty() {
                    dst.send(&out, timeout)
                        .await
                        .map_err(CopyError::Destination)?;
                    out.clear();
                }
                if remaining == 0 {
                    return Ok(total);
                }
                match read_more(src, buf, timeout).await {
                    Ok(0) => return Err(CopyError::SourceClosed),
                    Ok(_) => {}
                    Err(e) => return Err(CopyError::Source(e)),
                }
            }
        }
        BodyFraming::Chunked => {
            let mut decoder = ChunkedDecoder::new();
            let mut data = Vec::new();
            loop {
                if !buf.is_empty() {
                    data.clear();
                    let progress = decoder.feed(buf, &mut data).map_err(CopyError::Chunked)?;
                    total += data.len() as u64;
                    if over(total) {
                        return Err(CopyError::TooLarge);
                    }
                    tee_body(&mut tee, &data);
                    if dechunk {
                        out.extend_from_slice(&data);
                    } else {
                        out.extend_from_slice(&buf[..progress.consumed]);
                    }
                    buf.drain(..progress.consumed);
                    if !out.is_empty() {
                        dst.send(&out, timeout)
                            .await
                            .map_err(CopyError::Destination)?;
                        out.clear();
                    }
                    if progress.done {
                        return Ok(total);
                    }
                } else if !out.is_empty() {
                    dst.send(&out, timeout)
                        .await
                        .map_err(CopyError::Destination)?;
                    out.clear();
                }
                match read_more(src, buf, timeout).await {
                    Ok(0) => return Err(CopyError::SourceClosed),
                    Ok(_) => {}
                    Err(e) => return Err(CopyError::Source(e)),
                }
            }
        }
        BodyFraming::CloseDelimited => loop {
            total += buf.len() as u64;
            if over(total) {
                return Err(CopyError::TooLarge);
            }
            tee_body(&mut tee, buf);
            out.append(buf);
            if !out.is_empty() {
                dst.send(&out, timeout)
                    .await
                    .map_err(CopyError::Destination)?;
                out.clear();
            }
            match read_more(src, buf, timeout).await {
                Ok(0) => return Ok(total),
                Ok(_) => {}
                Err(e) => return Err(CopyError::Source(e)),
            }
        },
    }
}

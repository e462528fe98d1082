//! People's browsing through the API: the explorer's search (same filters as the page, keyset
//! paged with a cursor), one person's timeline, and the CSV export. Each read is audited by the
//! store in the same transaction (`activity.read`, `activity.export`), with the account, its
//! address and a purpose that says it came through the API.

use std::io::Write;
use std::net::IpAddr;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::IntoResponse;
use hedgerow_accounts::Permission;
use hedgerow_store::{
    Cursor, EventSource, ExplorerQuery, HostFilter, MAX_TIMELINE, Reader, StoreError, StoredEvent,
    Verdict,
};
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use super::{
    ApiError, ApiPath, ApiQuery, ApiResult, ApiStaff, ok, require, text_param, time_param,
};
use crate::AdminApp;
use crate::frame::Staff;

/// Events per page unless the caller asks otherwise.
const DEFAULT_PAGE_SIZE: u32 = 100;
/// Events of a timeline unless the caller asks otherwise.
const DEFAULT_TIMELINE: u32 = 1_000;
/// How far back a timeline reaches unless `since` is given.
const DEFAULT_TIMELINE_DAYS: i64 = 7;
/// The largest CSV export the API builds; a larger one is refused with advice to narrow it.
const MAX_EXPORT_BYTES: usize = 64 * 1024 * 1024;

/// One activity event as the API shows it.
#[derive(Serialize)]
pub(super) struct EventJson {
    id: i64,
    at: Timestamp,
    source: &'static str,
    client_ip: String,
    user: Option<String>,
    device: Option<String>,
    group: Option<String>,
    host: String,
    url: Option<String>,
    method: Option<String>,
    qtype: Option<String>,
    category: Option<String>,
    verdict: &'static str,
    rule: String,
    reason: Option<String>,
    search_term: Option<String>,
    page_title: Option<String>,
    status: Option<u16>,
    bytes: Option<u64>,
    duration_us: Option<u32>,
}

impl From<StoredEvent> for EventJson {
    fn from(stored: StoredEvent) -> EventJson {
        let e = stored.event;
        EventJson {
            id: stored.id,
            at: e.at,
            source: e.source.as_str(),
            client_ip: e.client_ip.to_string(),
            user: e.user,
            device: e.device,
            group: e.group,
            host: e.host,
            url: e.url,
            method: e.method,
            qtype: e.qtype,
            category: e.category,
            verdict: e.verdict.as_str(),
            rule: e.rule,
            reason: e.reason,
            search_term: e.search_term,
            page_title: e.page_title,
            status: e.status,
            bytes: e.bytes,
            duration_us: e.duration_us,
        }
    }
}

/// The explorer's filters, as query parameters.
#[derive(Deserialize)]
pub(super) struct ExploreParams {
    since: Option<String>,
    until: Option<String>,
    user: Option<String>,
    device: Option<String>,
    client_ip: Option<String>,
    category: Option<String>,
    verdict: Option<String>,
    source: Option<String>,
    search: Option<String>,
    host: Option<String>,
    subdomains: Option<bool>,
    cursor: Option<String>,
    page_size: Option<u32>,
    purpose: Option<String>,
}

impl ExploreParams {
    fn query(&self, staff: &Staff) -> Result<ExplorerQuery, ApiError> {
        let page_size = self.page_size.unwrap_or(DEFAULT_PAGE_SIZE);
        if !(1..=ExplorerQuery::MAX_PAGE_SIZE).contains(&page_size) {
            return Err(ApiError::bad_request(format!(
                "page_size must be between 1 and {}.",
                ExplorerQuery::MAX_PAGE_SIZE
            )));
        }
        let mut query = ExplorerQuery::school(staff.school, page_size);
        query.since = time_param("since", &self.since)?;
        query.until = time_param("until", &self.until)?;
        query.user = text_param("user", &self.user)?;
        query.device = text_param("device", &self.device)?;
        query.client_ip = text_param("client_ip", &self.client_ip)?
            .map(|ip| {
                ip.parse::<IpAddr>().map_err(|_| {
                    ApiError::bad_request(format!(
                        "client_ip {ip:?} is not an IP address; give one such as 10.0.3.17 or fd00::17."
                    ))
                })
            })
            .transpose()?;
        query.category = text_param("category", &self.category)?;
        query.verdict = text_param("verdict", &self.verdict)?
            .map(|v| {
                Verdict::parse(&v).ok_or_else(|| {
                    ApiError::bad_request(format!("verdict {v:?} is not allow or block."))
                })
            })
            .transpose()?;
        query.source = text_param("source", &self.source)?
            .map(|s| {
                EventSource::parse(&s).ok_or_else(|| {
                    ApiError::bad_request(format!("source {s:?} is not dns, proxy or explain."))
                })
            })
            .transpose()?;
        query.search_term = text_param("search", &self.search)?;
        query.host = text_param("host", &self.host)?.map(|h| {
            if self.subdomains.unwrap_or(false) {
                HostFilter::WithSubdomains(h)
            } else {
                HostFilter::Exact(h)
            }
        });
        query.page = text_param("cursor", &self.cursor)?
            .map(|c| {
                c.parse::<Cursor>().map_err(|_| {
                    ApiError::bad_request(
                        "cursor is not a page cursor; pass the next_cursor of the previous page as it was given.",
                    )
                })
            })
            .transpose()?;
        Ok(query)
    }
}

/// Who reads, from where, and why: the audit record of the read says it came through the API.
fn reader(staff: &Staff, purpose: &Option<String>, default: &str) -> Result<Reader, ApiError> {
    let purpose = text_param("purpose", purpose)?;
    Ok(Reader {
        actor: staff.actor(),
        from_addr: Some(staff.peer.to_string()),
        purpose: format!("API: {}", purpose.as_deref().unwrap_or(default)),
    })
}

#[derive(Serialize)]
struct ExplorerPageJson {
    events: Vec<EventJson>,
    next_cursor: Option<String>,
}

/// `GET /api/v1/activity`: one page of the school's activity, newest first.
pub(super) async fn explore(
    State(app): State<Arc<AdminApp>>,
    ApiStaff(staff): ApiStaff,
    ApiQuery(params): ApiQuery<ExploreParams>,
) -> ApiResult {
    require(&staff, Permission::ViewPersonActivity)?;
    let query = params.query(&staff)?;
    let reader = reader(&staff, &params.purpose, "activity explorer")?;
    let page = app
        .store
        .explore(&reader, &query)
        .await
        .map_err(|e| ApiError::store("reading activity", e))?;
    ok(&ExplorerPageJson {
        next_cursor: page.next.map(|c| c.to_string()),
        events: page.events.into_iter().map(EventJson::from).collect(),
    })
}

#[derive(Deserialize)]
pub(super) struct TimelineParams {
    since: Option<String>,
    until: Option<String>,
    limit: Option<u32>,
    purpose: Option<String>,
}

#[derive(Serialize)]
struct TimelineJson {
    username: String,
    since: Timestamp,
    until: Timestamp,
    events: Vec<EventJson>,
}

/// `GET /api/v1/activity/person/{username}`: one person's activity, oldest first.
pub(super) async fn person(
    State(app): State<Arc<AdminApp>>,
    ApiStaff(staff): ApiStaff,
    ApiPath(username): ApiPath<String>,
    ApiQuery(params): ApiQuery<TimelineParams>,
) -> ApiResult {
    require(&staff, Permission::ViewPersonActivity)?;
    let username = text_param("username", &Some(username))?
        .ok_or_else(|| ApiError::bad_request("Give the username whose activity to read."))?;
    let until = time_param("until", &params.until)?.unwrap_or_else(Timestamp::now);
    let since = match time_param("since", &params.since)? {
        Some(since) => since,
        None => until
            .checked_sub(SignedDuration::from_hours(24 * DEFAULT_TIMELINE_DAYS))
            .map_err(|_| ApiError::bad_request("until is too early; give a later time."))?,
    };
    let limit = params.limit.unwrap_or(DEFAULT_TIMELINE);
    if !(1..=MAX_TIMELINE).contains(&limit) {
        return Err(ApiError::bad_request(format!(
            "limit must be between 1 and {MAX_TIMELINE}."
        )));
    }
    let reader = reader(&staff, &params.purpose, "person timeline")?;
    let events = app
        .store
        .person_timeline(&reader, staff.school, &username, since, until, limit)
        .await
        .map_err(|e| ApiError::store("reading a person's activity", e))?;
    ok(&TimelineJson {
        username,
        since,
        until,
        events: events.into_iter().map(EventJson::from).collect(),
    })
}

/// A CSV destination that refuses to grow past [`MAX_EXPORT_BYTES`].
struct CappedBuffer {
    bytes: Vec<u8>,
    overflowed: bool,
}

impl Write for CappedBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.bytes.len() + buf.len() > MAX_EXPORT_BYTES {
            self.overflowed = true;
            return Err(std::io::Error::other("the export is too large"));
        }
        self.bytes.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// `GET /api/v1/activity/export`: every event matching the filters as CSV, newest first.
pub(super) async fn export(
    State(app): State<Arc<AdminApp>>,
    ApiStaff(staff): ApiStaff,
    ApiQuery(params): ApiQuery<ExploreParams>,
) -> ApiResult {
    require(&staff, Permission::ExportActivity)?;
    let query = params.query(&staff)?;
    let reader = reader(&staff, &params.purpose, "activity export")?;
    let mut buffer = CappedBuffer {
        bytes: Vec::new(),
        overflowed: false,
    };
    match app
        .store
        .export_events_csv(&reader, &query, &mut buffer)
        .await
    {
        Ok(_) => {}
        Err(StoreError::InvalidInput { .. }) if buffer.overflowed => {
            return Err(ApiError::unprocessable(format!(
                "The export would be larger than {} MiB. Narrow it with since and until (or other filters) and export the parts one by one.",
                MAX_EXPORT_BYTES / (1024 * 1024)
            )));
        }
        Err(e) => return Err(ApiError::store("exporting activity", e)),
    }
    Ok((
        StatusCode::OK,
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/csv; charset=utf-8"),
            ),
            (
                header::CONTENT_DISPOSITION,
                HeaderValue::from_static("attachment; filename=\"activity.csv\""),
            ),
        ],
        buffer.bytes,
    )
        .into_response())
}

//! Retention: deletes activity events, decided alerts and visitors' day codes once the school no longer keeps them
//! (`[retention]`), shortly after start and then every few hours. Each purge is audited by the
//! store as `system:retention` in the same transaction.

use std::collections::HashMap;
use std::time::Duration;

use hedgerow_config::RetentionSettings;
use hedgerow_store::{SchoolId, Store};
use jiff::{SignedDuration, Timestamp};
use tracing::{info, warn};

/// The first purge waits until the gateway has settled; later ones follow at this interval.
const FIRST_RUN: Duration = Duration::from_secs(60);
const INTERVAL: Duration = Duration::from_secs(6 * 3600);

/// Runs until the task is aborted.
pub async fn run(store: Store, settings: RetentionSettings, schools: HashMap<String, SchoolId>) {
    tokio::time::sleep(FIRST_RUN).await;
    loop {
        purge_once(&store, settings, &schools, Timestamp::now()).await;
        tokio::time::sleep(INTERVAL).await;
    }
}

/// One pass over every school; a failure is logged and the next pass tries again.
pub async fn purge_once(
    store: &Store,
    settings: RetentionSettings,
    schools: &HashMap<String, SchoolId>,
    now: Timestamp,
) {
    let before = |days: u32| now - SignedDuration::from_hours(24 * i64::from(days));
    for (slug, &school) in schools {
        match store
            .purge_events_before(school, before(settings.activity_days))
            .await
        {
            Ok(0) => {}
            Ok(n) => {
                info!(school = %slug, deleted = n, days = settings.activity_days, "retention: old activity deleted")
            }
            Err(e) => {
                warn!(school = %slug, "retention: could not delete old activity, will try again: {e}")
            }
        }
        match store
            .purge_decided_alerts_before(school, before(settings.decided_alert_days))
            .await
        {
            Ok(0) => {}
            Ok(n) => {
                info!(school = %slug, deleted = n, days = settings.decided_alert_days, "retention: old decided alerts deleted")
            }
            Err(e) => {
                warn!(school = %slug, "retention: could not delete old decided alerts, will try again: {e}")
            }
        }
        match store
            .purge_visitors_before(school, before(settings.visitor_days))
            .await
        {
            Ok(0) => {}
            Ok(n) => {
                info!(school = %slug, deleted = n, days = settings.visitor_days, "retention: old visitor codes, admissions and acceptances deleted")
            }
            Err(e) => {
                warn!(school = %slug, "retention: could not delete old visitors, will try again: {e}")
            }
        }
    }
}

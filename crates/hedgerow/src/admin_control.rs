//! The admin app's view of the running gateway: [`hedgerow_web::GatewayControl`] over the live
//! policy, so what the app previews, records and self-tests is exactly what the DNS filter and
//! the proxy enforce.

use std::sync::Arc;

use async_trait::async_trait;
use hedgerow_policy::PolicySpec;
use hedgerow_policy::change::PolicyChange;
use hedgerow_store::{CheckId, PolicyChangeRecord};
use hedgerow_web::{ChangePreview, GatewayControl, MadeRecord};

use crate::live_policy::LivePolicy;
use crate::monitor::RecordNotifier;

pub struct LiveControl {
    pub live: Arc<LivePolicy>,
    /// Emails the DSL (or the headteacher) about new safeguarding records, and sends the admin
    /// app's other e-mails (agreement reminders); `None` without a mail server.
    pub records: Option<Arc<RecordNotifier>>,
    /// The access portal's public URL (`[portal] url`, else its listener's), printed on
    /// parents' letters; `None` when there is no portal.
    pub portal_url: Option<String>,
}

/// An error as one sentence chain for the person who asked.
fn sentence(e: anyhow::Error) -> String {
    format!("{e:#}")
}

#[async_trait]
impl GatewayControl for LiveControl {
    fn policy(&self, school: &str) -> Result<PolicySpec, String> {
        self.live.effective_spec(school).map_err(sentence)
    }

    fn preview(&self, school: &str, change: &PolicyChange) -> Result<ChangePreview, String> {
        let (kind, diff, _) = self.live.prepare(school, change).map_err(sentence)?;
        Ok(ChangePreview { kind, diff })
    }

    async fn propose(
        &self,
        school: &str,
        change: &PolicyChange,
        by: &str,
        reason: &str,
        source: &str,
    ) -> Result<PolicyChangeRecord, String> {
        self.live
            .propose(school, change, by, reason, source)
            .await
            .map_err(sentence)
    }

    async fn refresh(&self) -> Result<(), String> {
        self.live.refresh().await.map_err(sentence)
    }

    async fn run_self_test(&self, school: &str, by: &str) -> Result<CheckId, String> {
        crate::selftest::run_and_record(&self.live, school, by)
            .await
            .map_err(sentence)
    }

    async fn record_made(&self, school: &str, record: MadeRecord) {
        if let Some(notifier) = &self.records {
            notifier.notify(school, record);
        }
    }

    fn portal_url(&self) -> Option<String> {
        self.portal_url.clone()
    }

    async fn send_email(&self, to: &str, subject: &str, text: &str) -> Result<(), String> {
        match &self.records {
            Some(mail) => mail.send_plain(to, subject, text).await,
            None => Err("No mail server is set up, so no e-mail can be sent; the network manager can add one under [monitoring.smtp] in the configuration.".into()),
        }
    }
}

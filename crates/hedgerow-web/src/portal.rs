//! The access portal: the small public web app a person is sent to when the school holds them
//! until they accept their acceptable use agreement, where parents co-sign through their
//! child's link, and where visitors enter their day code.

use std::net::IpAddr;

use async_trait::async_trait;
use hedgerow_store::SchoolId;

/// What the portal asks of the running gateway.
#[async_trait]
pub trait PortalGate: Send + Sync + 'static {
    /// Who is at the portal: the connection's address, or the person the school's proxy
    /// vouched for in `X-Hedgerow-Portal-Client` (believed only when its signature checks).
    fn who(&self, peer: IpAddr, vouched: Option<&str>) -> Option<PortalVisitor>;
    /// The audience of a filtering group (for a child met through a parent's link).
    fn audience_of(&self, school_slug: &str, group_key: &str) -> hedgerow_agreements::Audience;
    /// Re-read acceptances now, so the filter lets someone in the moment they accept.
    async fn refresh(&self);
}

/// A person (or device, or guest) at the portal, as the gateway knows them.
#[derive(Debug, Clone)]
pub struct PortalVisitor {
    pub school: SchoolId,
    pub school_slug: String,
    pub school_name: String,
    pub client: IpAddr,
    pub person: PortalPerson,
    pub audience: hedgerow_agreements::Audience,
    pub group_name: String,
    /// Whether the gateway is holding them at the portal right now.
    pub held: bool,
    pub online_safety_lead: Option<String>,
}

/// Who the acceptance is recorded against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PortalPerson {
    User {
        username: String,
        display_name: String,
    },
    Device {
        name: String,
    },
    Guest,
}

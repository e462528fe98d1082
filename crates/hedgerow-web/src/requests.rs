//! (being written)

use std::sync::Arc;

use axum::Router;

use crate::AdminApp;

pub(crate) const ROUTES: &[(&str, &str)] = &[];

pub(crate) fn routes() -> Router<Arc<AdminApp>> {
    Router::new()
}

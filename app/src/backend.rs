//! The seam between the UI and the server: server functions call this trait, the
//! server crate implements it and puts it into Leptos context, so `app` never
//! depends on `server`.

use std::sync::Arc;

use async_trait::async_trait;
use leptos::prelude::{use_context, ServerFnError};

use crate::wire::{About, EnginesReport};

/// A failure the backend can show to a person. The message is already written for
/// them; internals stay in the server's log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BackendError {
    pub code: &'static str,
    pub message: String,
}

/// What the pages can ask of the server.
#[async_trait]
pub trait Backend: Send + Sync + 'static {
    /// Asks every configured Docker engine how it is, now.
    async fn engines(&self) -> EnginesReport;
    /// Facts about this server and its database.
    async fn about(&self) -> Result<About, BackendError>;
}

/// The backend as it sits in Leptos context (cheap to clone).
#[derive(Clone)]
pub struct BackendHandle(pub Arc<dyn Backend>);

/// The backend of the current request; an error when the server forgot to provide it.
pub fn use_backend() -> Result<Arc<dyn Backend>, ServerFnError> {
    use_context::<BackendHandle>()
        .map(|handle| handle.0)
        .ok_or_else(|| ServerFnError::new("the server is misconfigured: no backend in context"))
}

impl From<BackendError> for ServerFnError {
    fn from(e: BackendError) -> Self {
        ServerFnError::new(e.message)
    }
}

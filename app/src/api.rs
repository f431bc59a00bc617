//! Server functions: the calls the pages make. Each one is a thin hop to the
//! [`crate::backend::Backend`] in context, so the REST API and the UI share logic.

use leptos::prelude::*;

use crate::wire::{About, EnginesReport};

/// Every configured Docker engine, checked now.
#[server]
pub async fn get_engines() -> Result<EnginesReport, ServerFnError> {
    let backend = crate::backend::use_backend()?;
    Ok(backend.engines().await)
}

/// Facts about this Berth server.
#[server]
pub async fn get_about() -> Result<About, ServerFnError> {
    let backend = crate::backend::use_backend()?;
    Ok(backend.about().await?)
}

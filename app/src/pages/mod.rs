//! One module per page of the UI.

pub mod dashboard;
pub mod events;
pub mod hosts;
pub mod not_found;
pub mod proxy;
pub mod services;
pub mod settings;

//! One module per page of the UI.

pub mod audit;
pub mod certificates;
pub mod dashboard;
pub mod events;
pub mod host;
pub mod hosts;
pub mod login;
pub mod not_found;
pub mod pools;
pub mod proxy;
pub mod secrets;
pub mod service;
pub mod services;
pub mod settings;
pub mod setup;
pub mod stacks_import;
pub mod teams;
pub mod users;
pub mod volume_classes;
pub mod volumes;

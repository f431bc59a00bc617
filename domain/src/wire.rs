//! Wire types: what the server sends to the browser and to API clients. The REST API
//! and the server functions serialise the same structs. No colours (tones) and no
//! HTTP statuses here: those belong to the pages and to the API.
//!
//! By resource: `system` (engines, facts, the error body), `accounts`, `hosts` (and
//! events), `spec` (a service's spec and its hash), `volumes`, `services`, `proxy`,
//! `rollouts`, `pools` (host pools and the hosts they made), `stacks` (files of
//! services, their plans), `certs` (certificates the proxy serves).

mod accounts;
mod canary;
mod certs;
mod gates;
mod history;
mod hosts;
mod pools;
mod proxy;
mod rollouts;
mod services;
mod spec;
mod stacks;
mod system;
mod volumes;

pub use accounts::*;
pub use canary::*;
pub use certs::*;
pub use gates::*;
pub use history::*;
pub use hosts::*;
pub use pools::*;
pub use proxy::*;
pub use rollouts::*;
pub use services::*;
pub use spec::*;
pub use stacks::*;
pub use system::*;
pub use volumes::*;

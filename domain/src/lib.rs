//! Berth's domain: what a service is (its spec and its parts), what the API and
//! the pages exchange, and the rules that validate what people type. Plain data
//! and pure functions: no IO, no UI framework, no HTTP, so the browser (WASM) and
//! the server share one definition and one set of rules.
//!
//! # Layout
//! - [`wire`]: the types the REST API and the server functions serialise, by
//!   resource (spec, services, hosts, volumes, proxy, rollouts, accounts, system);
//!   the spec's canonical hash lives with the spec.
//! - [`validate`]: grammars for names, labels, placement constraints (parsed once
//!   into [`validate::Constraint`]), endpoints, routes, domains and the spec, with
//!   the words a person reads; the forms' text fields parsed and written back.
//! - [`format`]: bytes, CPUs and UTC times written for people, the same on both
//!   sides.
//!
//! What stays at the edges: tones (colours) of states in `app`'s components, HTTP
//! statuses of error codes with `app::errors::AppError` and the server's API.
#![forbid(unsafe_code)]

pub mod format;
pub mod validate;
pub mod wire;

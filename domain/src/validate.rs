//! Rules for what people type: names and passwords. Pure, and shared: the browser
//! checks a form before it submits, the server checks again, with the same words.
//!
//! By subject: `names` (accounts, teams, hosts, labels, constraints, endpoints),
//! `spec` (a service's spec), `routes` (host names, domains, routes), `pools`
//! (host pools), `forms` (the text fields of the forms, parsed and written back).

mod canary;
mod forms;
mod names;
mod pools;
mod routes;
mod spec;

pub use canary::*;
pub use forms::*;
pub use names::*;
pub use pools::*;
pub use routes::*;
pub use spec::*;

#[cfg(test)]
mod tests;

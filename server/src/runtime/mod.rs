//! How Berth talks to container engines. `docker` speaks the Docker Engine API
//! through bollard; `engines` holds the configured engines and checks them.

pub mod docker;
pub mod engines;

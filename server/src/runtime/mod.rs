//! How Berth talks to container engines. `docker` speaks the Docker Engine API
//! through bollard; `labels` names what Berth writes on its containers.

pub mod docker;
pub mod labels;

//! Use cases shared by the REST API and the server functions, so both give the same
//! answers and the same errors.

pub mod system;

/// A use case's failure, already in words for a person; the code is stable.
#[derive(Debug, thiserror::Error)]
pub enum OpsError {
    /// Something inside Berth failed; the details go to the log, not the client.
    #[error("internal error; the server log has the details")]
    Internal,
}

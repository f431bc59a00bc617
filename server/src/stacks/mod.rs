//! Stack files: reading a Berth stack file or a Compose file into the services it
//! wants (with every key Berth does not take as it is noted), writing the current
//! state back as a stack file, and the pure plan between the two. No IO here: the
//! use case (`ops::stacks`) reads the store and the cluster and calls these.
//!
//! - `file`: Berth's own format (`kind: berth/stack`), read and written.
//! - `compose`: a Compose file into the same services, key by key.
//! - `locate`: a key's line and column in the text, for errors.
//! - `plan`: current state + wanted services -> what changes, and where new
//!   replicas would go.

mod compose;
mod file;
mod locate;
pub mod plan;

use std::collections::BTreeMap;

use domain::wire::{KeyNote, ProxyConfig, ServiceSpec, StackFormat};

pub use file::{read_stack, write_stack};

/// Largest file read (the API's body limit is larger; a stack of a thousand
/// services fits).
pub const MAX_FILE_BYTES: usize = 512 * 1024;

/// Values a file may expand to, aliases included, and the bytes of its strings:
/// a small file of aliases must not make a large tree.
pub const MAX_NODES: usize = 200_000;
pub const MAX_EXPANDED_BYTES: usize = 16 << 20;

/// Bytes the env files a file names may add up to, counted once per use.
pub const MAX_ENV_BYTES: usize = 4 << 20;

/// Why a file could not be read: in words, with the place when there is one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StackError {
    /// The text is not YAML, or a value has the wrong type.
    #[error("{message} (line {line}, column {column})")]
    At {
        message: String,
        line: usize,
        column: usize,
    },
    /// Something about the file as a whole, or a place that could not be found.
    #[error("{0}")]
    Invalid(String),
}

/// One service as a file wants it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wanted {
    pub name: String,
    /// Its team as written (the file's, the service's own, or the caller's choice).
    pub team: String,
    pub replicas: u32,
    pub spec: ServiceSpec,
    pub proxy: ProxyConfig,
}

/// A file read: its services and what was not taken as it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    pub format: StackFormat,
    pub services: Vec<Wanted>,
    pub notes: Vec<KeyNote>,
}

/// Reads `text` as `format` (a stack file when it says `kind: berth/stack` on
/// top, else Compose). `team` is the caller's choice (a Compose file's services
/// need one); `files` are the files it refers to, by path.
pub fn read(
    text: &str,
    format: StackFormat,
    team: Option<&str>,
    files: &BTreeMap<String, String>,
) -> Result<Parsed, StackError> {
    if text.len() > MAX_FILE_BYTES {
        return Err(StackError::Invalid(format!(
            "the file has {} bytes; at most {MAX_FILE_BYTES} are read",
            text.len()
        )));
    }
    bounded(text)?;
    let value = parse_yaml(text)?;
    let format = match format {
        StackFormat::Auto if file::is_stack(&value) => StackFormat::Stack,
        StackFormat::Auto => StackFormat::Compose,
        f => f,
    };
    match format {
        StackFormat::Stack => file::read_stack(text, team),
        _ => compose::read_compose(text, value, team, files),
    }
}

/// Walks the text's YAML events without keeping them, counting values and string
/// bytes as aliases expand them: refused past [`MAX_NODES`] or
/// [`MAX_EXPANDED_BYTES`] before anything is built.
fn bounded(text: &str) -> Result<(), StackError> {
    use serde::de::DeserializeSeed;
    let counter = bounded::Counter::default();
    let de = serde_norway::Deserializer::from_str(text);
    bounded::Count(&counter)
        .deserialize(de)
        .map_err(|e| yaml_error(&e))
}

mod bounded;

/// The text as YAML, or where it stops being YAML.
fn parse_yaml(text: &str) -> Result<serde_norway::Value, StackError> {
    serde_norway::from_str(text).map_err(|e| yaml_error(&e))
}

/// A YAML error with its place (when the parser knows it).
fn yaml_error(e: &serde_norway::Error) -> StackError {
    let message = e.to_string();
    // The parser appends " at line L column C"; the place is said once, our way.
    let message = match message.find(" at line ") {
        Some(i) => message[..i].to_string(),
        None => message,
    };
    match e.location() {
        Some(l) => StackError::At {
            message,
            line: l.line(),
            column: l.column(),
        },
        None => StackError::Invalid(message),
    }
}

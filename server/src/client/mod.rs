//! The `berth` command line as a client of a Berth: `login`, `services`, `ps`,
//! `deploy`, `scale`, `rollback`, `logs`, `hosts`, `plan`, `apply`, `export` and
//! `completions`. [`run`] runs one and answers the process's exit code; every
//! failure is one line on stderr.
//!
//! - `args`: the commands' flags (clap), flattened into [`crate::config::Command`].
//! - `config`: the saved login (`~/.config/berth/config.json`) and `BERTH_URL` /
//!   `BERTH_TOKEN`.
//! - `http`: the small JSON client (hyper; https:// through rustls).
//! - `commands`: services and hosts; `plan`: stacks; `files`: the file and its
//!   `env_file`s; `wait`: following rollouts; `table`: output for people.

mod args;
mod commands;
pub mod config;
pub mod files;
pub mod http;
mod plan;
pub mod table;
pub mod wait;

pub use args::{ClientCommand, FileArgs, RolloutAction, WaitArgs};

/// Exit codes: `plan` as `kubectl diff` (0 no changes, 1 changes), 2 for any
/// error, and for `--wait` 3 when a rollout did not succeed, 4 when it took longer
/// than `--timeout`.
pub mod exit {
    pub const OK: u8 = 0;
    pub const CHANGES: u8 = 1;
    pub const ERROR: u8 = 2;
    pub const ROLLOUT_FAILED: u8 = 3;
    pub const TIMED_OUT: u8 = 4;
    /// `berth whatif`: some service would not stay whole.
    pub const NOT_WHOLE: u8 = 5;
}

/// Why a client command failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    #[error(transparent)]
    Http(#[from] http::HttpError),
    #[error(transparent)]
    Files(#[from] files::FilesError),
    #[error(transparent)]
    Wait(#[from] wait::WaitError),
    /// Not done, and why (a refused key, no yes, a refused token).
    #[error("{0}")]
    Refused(String),
    #[error("cannot write {}: {cause}", path.display())]
    Output {
        path: std::path::PathBuf,
        cause: String,
    },
}

impl ClientError {
    /// The process's exit code for this failure.
    pub fn exit_code(&self) -> u8 {
        match self {
            ClientError::Wait(wait::WaitError::Failed(_)) => exit::ROLLOUT_FAILED,
            ClientError::Wait(wait::WaitError::TimedOut(_)) => exit::TIMED_OUT,
            _ => exit::ERROR,
        }
    }
}

/// Runs one client command; `json` prints the API's JSON instead of tables.
/// Answers the exit code, having said what failed on stderr in one line.
pub async fn run(command: ClientCommand, json: bool) -> u8 {
    match dispatch(command, json).await {
        Ok(code) => code,
        Err(e) => {
            let line = e.to_string().replace(['\n', '\r'], " ");
            eprintln!("berth: {line}");
            e.exit_code()
        }
    }
}

async fn dispatch(command: ClientCommand, json: bool) -> Result<u8, ClientError> {
    use ClientCommand as C;
    let env = config::Env::current();
    let api = || -> Result<http::Api, ClientError> {
        let login = env.login()?;
        Ok(http::Api::new(&login.url, &login.token)?)
    };
    match command {
        C::Completions { shell } => completions(shell),
        C::Login { url, token } => commands::login(&env, &url, token, json).await,
        C::Services => commands::services(&api()?, json).await,
        C::Ps { name } => commands::ps(&api()?, &name, json).await,
        C::Deploy {
            name,
            image,
            message,
            wait,
        } => commands::deploy(&api()?, &name, &image, message, &wait, json).await,
        C::Scale { name, replicas } => commands::scale(&api()?, &name, replicas, json).await,
        C::Rollback { name, to } => commands::rollback(&api()?, &name, to, json).await,
        C::Rollout { action } => commands::rollout(&api()?, action, json).await,
        C::Logs {
            name,
            follow,
            replica,
            tail,
        } => commands::logs(&api()?, &name, follow, replica, tail, json).await,
        C::Hosts => commands::hosts(&api()?, json).await,
        C::History { name } => commands::history(&api()?, &name, json).await,
        C::Whatif { lose, .. } => commands::whatif(&api()?, lose.as_deref(), json).await,
        C::Plan { file } => plan::plan(&api()?, &file, json).await,
        C::Apply {
            file,
            yes,
            message,
            wait,
        } => plan::apply(&api()?, &file, yes, message, &wait, json).await,
        C::Export { team, output } => {
            plan::export(&api()?, team.as_deref(), output.as_deref()).await
        }
    }
}

/// `berth completions SHELL`: the script, from the same clap definition that
/// parses the command line.
fn completions(shell: clap_complete::Shell) -> Result<u8, ClientError> {
    use clap::CommandFactory;
    let mut command = crate::config::Config::command();
    clap_complete::generate(shell, &mut command, "berth", &mut std::io::stdout());
    Ok(exit::OK)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes() {
        let failed = ClientError::Wait(wait::WaitError::Failed("web rolled back".into()));
        assert_eq!(failed.exit_code(), 3);
        let late = ClientError::Wait(wait::WaitError::TimedOut("late".into()));
        assert_eq!(late.exit_code(), 4);
        let conflict = ClientError::Http(http::HttpError::Api {
            status: 409,
            code: "conflict".into(),
            message: "web changed since the plan".into(),
        });
        assert_eq!(conflict.exit_code(), 2);
        assert_eq!(conflict.to_string(), "web changed since the plan");
        let api_in_wait = ClientError::Wait(wait::WaitError::Http(http::HttpError::Timeout {
            url: "http://h".into(),
        }));
        assert_eq!(api_in_wait.exit_code(), exit::ERROR);
        assert_eq!(
            ClientError::Config(config::ConfigError::NotLoggedIn).exit_code(),
            exit::ERROR
        );
        assert_eq!(exit::CHANGES, 1);
    }

    #[test]
    fn completions_name_the_commands() {
        use clap::CommandFactory;
        for shell in [
            clap_complete::Shell::Bash,
            clap_complete::Shell::Zsh,
            clap_complete::Shell::Fish,
        ] {
            let mut out = Vec::new();
            clap_complete::generate(
                shell,
                &mut crate::config::Config::command(),
                "berth",
                &mut out,
            );
            let text = String::from_utf8(out).unwrap();
            for word in ["deploy", "rollback", "apply", "completions"] {
                assert!(text.contains(word), "{shell}: {word}");
            }
        }
    }
}

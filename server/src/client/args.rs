//! The client commands' command line (`berth services`, `berth deploy`…), flattened
//! into [`crate::config::Command`] so that one `berth` binary serves and drives.

use std::path::PathBuf;
use std::time::Duration;

use clap::Subcommand;

use crate::config::parse_duration;

/// Commands that talk to a Berth over its API, with the login `berth login` saved
/// (or `BERTH_URL` and `BERTH_TOKEN`). None of them reads the server's flags.
#[derive(Debug, Clone, Subcommand)]
pub enum ClientCommand {
    /// Check an API token against a Berth and save both for the other commands
    /// (in ~/.config/berth/config.json, readable by you only).
    Login {
        /// Where Berth answers, e.g. http://127.0.0.1:3000.
        #[arg(long)]
        url: String,
        /// An API token (Settings → Tokens); read from stdin when left out.
        #[arg(long)]
        token: Option<String>,
    },
    /// The services you may see, with their ready replicas and revision.
    Services,
    /// A service's replicas: host, state, health, revision.
    Ps {
        /// The service.
        name: String,
    },
    /// Deploy a new revision of a service with another image (the rest of its spec
    /// as it is).
    Deploy {
        name: String,
        #[arg(long)]
        image: String,
        /// Why, for the revision history.
        #[arg(long, short)]
        message: Option<String>,
        #[command(flatten)]
        wait: WaitArgs,
    },
    /// Set how many replicas of a service run.
    Scale { name: String, replicas: u32 },
    /// Go back to an earlier revision (the one before the current without --to).
    Rollback {
        name: String,
        #[arg(long)]
        to: Option<i64>,
    },
    /// A service's rollout: where it is (`status`), or move it on: `promote`
    /// a canary to its next step (`--full`: past every step), `pause`,
    /// `resume`, or `abort` (every request back to the old replicas at once).
    Rollout {
        #[command(subcommand)]
        action: RolloutAction,
    },
    /// A replica's log (stdout and stderr).
    Logs {
        name: String,
        /// Keep printing what it writes next.
        #[arg(short, long)]
        follow: bool,
        /// The replica's slot (the first replica without it).
        #[arg(long, short)]
        replica: Option<u32>,
        /// Lines from the end (the server's default, 200, without it).
        #[arg(long)]
        tail: Option<u32>,
    },
    /// The Docker hosts, their state and capacity.
    Hosts,
    /// A service's last hour: its traffic through the proxy (requests per
    /// second, error rate, p99) and each running replica's CPU and memory.
    History { name: String },
    /// What losing hosts would do, before it happens: which replicas move where,
    /// which no host could take, which wait for volumes left behind. Exits 5 when
    /// some service would not stay whole.
    Whatif {
        /// The hosts to imagine lost, comma-separated: h2 or h2,h3.
        #[arg(
            long,
            required_unless_present = "each_host",
            conflicts_with = "each_host"
        )]
        lose: Option<String>,
        /// Lose each host in turn (the N-1 check): one line per host.
        #[arg(long)]
        each_host: bool,
    },
    /// What applying a stack or Compose file would change. Exit code as `kubectl
    /// diff`: 0 no changes, 1 changes, 2 or more an error (a bad file or a refused
    /// key).
    Plan {
        #[command(flatten)]
        file: FileArgs,
    },
    /// Apply a stack or Compose file: shows the plan, asks (unless --yes), applies
    /// it only if nothing changed since the plan (else 409).
    Apply {
        #[command(flatten)]
        file: FileArgs,
        /// Apply without asking (needed without a terminal).
        #[arg(long, short)]
        yes: bool,
        /// Why, for the revision history.
        #[arg(long, short)]
        message: Option<String>,
        #[command(flatten)]
        wait: WaitArgs,
    },
    /// Write the current services as a stack file that plans as "no changes".
    Export {
        /// Only this team's services.
        #[arg(long)]
        team: Option<String>,
        /// Write it here instead of stdout.
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
    /// Print a shell completion script, e.g. `berth completions bash >
    /// /etc/bash_completion.d/berth`.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

/// What `berth rollout` does.
#[derive(Debug, Clone, Subcommand)]
pub enum RolloutAction {
    /// The rollout under way (or the last): its state, what it does now, and a
    /// canary's share of the requests.
    Status {
        name: String,
    },
    /// A canary to its next step; a paused one resumes.
    Promote {
        name: String,
        /// Past every step at once: the old replicas are replaced.
        #[arg(long)]
        full: bool,
    },
    /// Start no more moves (failed replicas are still replaced).
    Pause {
        name: String,
    },
    Resume {
        name: String,
    },
    /// Stop it and take every replica back to the revision before.
    Abort {
        name: String,
    },
}

/// The file of `plan` and `apply`.
#[derive(Debug, Clone, clap::Args)]
pub struct FileArgs {
    /// A Berth stack file or a Compose file (`-` for stdin); its `env_file`s are
    /// read from beside it.
    #[arg(short = 'f', long = "file")]
    pub file: PathBuf,
    /// The team of a Compose file's services.
    #[arg(long)]
    pub team: Option<String>,
}

/// `--wait` and how long.
#[derive(Debug, Clone, clap::Args)]
pub struct WaitArgs {
    /// Follow each changed service's rollout until it runs its new revision;
    /// exit 3 when one rolls back, pauses or is aborted, 4 on --timeout.
    #[arg(long)]
    pub wait: bool,
    /// How long --wait waits, e.g. 90s, 10m.
    #[arg(long, default_value = "10m", value_parser = parse_duration)]
    pub timeout: Duration,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Command, Config, ConfigError};

    fn parse(args: &[&str]) -> (ClientCommand, bool) {
        let config = Config::parse_args(std::iter::once("berth").chain(args.iter().copied()))
            .unwrap_or_else(|e| match e {
                ConfigError::Display(t) | ConfigError::Invalid(t) => panic!("{args:?}: {t}"),
            });
        match config.command {
            Some(Command::Client(c)) => (c, config.json),
            other => panic!("{args:?}: {other:?}"),
        }
    }

    #[test]
    fn deploy_with_wait_and_json() {
        let (c, json) = parse(&[
            "deploy",
            "web",
            "--image",
            "demo:v2",
            "-m",
            "fix",
            "--wait",
            "--timeout",
            "90s",
            "--json",
        ]);
        assert!(json);
        match c {
            ClientCommand::Deploy {
                name,
                image,
                message,
                wait,
            } => {
                assert_eq!((name.as_str(), image.as_str()), ("web", "demo:v2"));
                assert_eq!(message.as_deref(), Some("fix"));
                assert!(wait.wait);
                assert_eq!(wait.timeout, Duration::from_secs(90));
            }
            other => panic!("{other:?}"),
        }
        match parse(&["--json", "apply", "-f", "stack.yml", "--yes"]) {
            (
                ClientCommand::Apply {
                    file, yes, wait, ..
                },
                true,
            ) => {
                assert_eq!(file.file, PathBuf::from("stack.yml"));
                assert!(yes);
                assert!(!wait.wait);
                assert_eq!(wait.timeout, Duration::from_secs(600));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn short_flags() {
        match parse(&["logs", "web", "-f", "-r", "2", "--tail", "10"]).0 {
            ClientCommand::Logs {
                follow,
                replica,
                tail,
                ..
            } => assert_eq!((follow, replica, tail), (true, Some(2), Some(10))),
            other => panic!("{other:?}"),
        }
        match parse(&["plan", "-f", "-", "--team", "shop"]).0 {
            ClientCommand::Plan { file } => {
                assert_eq!(file.file, PathBuf::from("-"));
                assert_eq!(file.team.as_deref(), Some("shop"));
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            parse(&["rollback", "web", "--to", "1"]).0,
            ClientCommand::Rollback { to: Some(1), .. }
        ));
        assert!(matches!(
            parse(&["rollout", "promote", "web", "--full"]).0,
            ClientCommand::Rollout {
                action: RolloutAction::Promote { full: true, .. }
            }
        ));
        assert!(matches!(
            parse(&["rollout", "abort", "web"]).0,
            ClientCommand::Rollout {
                action: RolloutAction::Abort { .. }
            }
        ));
        assert!(matches!(
            parse(&["scale", "web", "3"]).0,
            ClientCommand::Scale { replicas: 3, .. }
        ));
    }

    #[test]
    fn mistakes_are_one_line() {
        for args in [&["scale", "web", "many"][..], &["completions", "tcsh"][..]] {
            let argv = std::iter::once("berth").chain(args.iter().copied());
            match Config::parse_args(argv) {
                Err(ConfigError::Invalid(line)) => assert!(!line.contains('\n'), "{line}"),
                other => panic!("{args:?}: {other:?}"),
            }
        }
        let argv = ["berth", "deploy", "web"];
        match Config::parse_args(argv) {
            Err(ConfigError::Invalid(line)) => assert_eq!(
                line,
                "the following required arguments were not provided: --image <IMAGE> (see 'berth --help')"
            ),
            other => panic!("{other:?}"),
        }
    }
}

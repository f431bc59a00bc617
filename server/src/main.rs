//! The `berth` binary: parse the configuration, then run a client command, or set
//! up logging and serve or run a server command. Every failure ends in one line on
//! stderr and a non-zero exit.
#![forbid(unsafe_code)]

use std::process::ExitCode;

use server::config::{Command, Config, ConfigError, UserCommand};

#[tokio::main]
async fn main() -> ExitCode {
    let config = match Config::parse_args(std::env::args_os()) {
        Ok(config) => config,
        Err(ConfigError::Display(text)) => {
            print!("{text}");
            if !text.ends_with('\n') {
                println!();
            }
            return ExitCode::SUCCESS;
        }
        Err(ConfigError::Invalid(line)) => {
            eprintln!("berth: {line}");
            return ExitCode::from(2);
        }
    };
    let user = match config.command.clone() {
        // Client commands talk to a Berth over HTTP: no logging set-up, and exit
        // codes of their own (`server::client::exit`).
        Some(Command::Client(command)) => {
            return ExitCode::from(server::client::run(command, config.json).await)
        }
        Some(Command::User(command)) => Some(command),
        None => None,
    };
    if let Err(line) = server::telemetry::init(&config.log) {
        eprintln!("berth: {line}");
        return ExitCode::from(2);
    }
    let result = match user {
        None => server::run(config.clone()).await.map_err(|e| e.to_string()),
        Some(UserCommand::Create { username, role }) => {
            server::cli::user_create(&config, &username, role)
                .await
                .map(|line| println!("{line}"))
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(line) => {
            eprintln!("berth: {line}");
            ExitCode::FAILURE
        }
    }
}

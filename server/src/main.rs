//! The `berth` binary: parse the configuration, set up logging, then serve or run a
//! command. Every failure ends in one line on stderr and a non-zero exit.
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
    if let Err(line) = server::telemetry::init(&config.log) {
        eprintln!("berth: {line}");
        return ExitCode::from(2);
    }
    let result = match &config.command {
        None => server::run(config.clone()).await.map_err(|e| e.to_string()),
        Some(Command::User(UserCommand::Create { username, role })) => {
            server::cli::user_create(&config, username, *role)
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

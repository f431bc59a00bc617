//! The `berth` binary: parse the configuration, set up logging, run the server. Every
//! failure ends in one line on stderr and a non-zero exit.
#![forbid(unsafe_code)]

use std::process::ExitCode;

use server::config::{Config, ConfigError};

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
    match server::run(config).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("berth: {e}");
            ExitCode::FAILURE
        }
    }
}

//! `berth user create`: accounts from the command line, for scripted installs and
//! for when nobody can log in any more.

use std::io::{BufRead, IsTerminal};

use domain::wire::{CreateUserInput, UserRole};

use crate::config::Config;
use crate::ops::{self, Ctx};
use crate::state::AppState;

/// Creates a user in the configured database; the password comes from stdin, or
/// from two prompts on a terminal. Returns the line to print.
pub async fn user_create(
    config: &Config,
    username: &str,
    role: UserRole,
) -> Result<String, String> {
    let password = read_password()?;
    let store = crate::open_store(config).await.map_err(|e| e.to_string())?;
    store.migrate().await.map_err(|e| e.to_string())?;
    let state = AppState::new(
        store.clone(),
        crate::leptos_options(&config.site_root, config.listen),
        config.listen.to_string(),
        config.session_ttl,
        store.instance_id().await.map_err(|e| e.to_string())?,
        crate::secrets::Keyring::load(config.secret_key.as_deref(), &store.data_dir())
            .map_err(|e| e.to_string())?,
    );
    let input = CreateUserInput {
        username: username.to_string(),
        password,
        role,
    };
    let result = ops::users::insert(&state, &Ctx::system("cli"), input).await;
    store.close().await;
    let user = result.map_err(|e| e.to_string())?;
    Ok(format!(
        "created {} {} (id {})",
        user.role.as_str(),
        user.username,
        user.id
    ))
}

fn read_password() -> Result<String, String> {
    if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("Password: ").map_err(|e| e.to_string())?;
        let again = rpassword::prompt_password("Password again: ").map_err(|e| e.to_string())?;
        if first != again {
            return Err("the two passwords differ".into());
        }
        Ok(first)
    } else {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .map_err(|e| format!("cannot read the password from stdin: {e}"))?;
        let password = line.trim_end_matches(['\n', '\r']).to_string();
        if password.is_empty() {
            return Err(
                "no password on stdin: pipe one in, e.g. `echo \"$PW\" | berth user create …`"
                    .into(),
            );
        }
        Ok(password)
    }
}

//! The login the client commands use: `config.json` under `$XDG_CONFIG_HOME/berth`
//! (or `~/.config/berth`), readable by its owner only, with `BERTH_URL` and
//! `BERTH_TOKEN` taking precedence over it.

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Where a Berth answers and the token that opens it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Login {
    pub url: String,
    pub token: String,
}

// The token never reaches a log or a panic message.
impl std::fmt::Debug for Login {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Login")
            .field("url", &self.url)
            .field("token", &"…")
            .finish()
    }
}

/// Why the login cannot be read or saved.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("neither XDG_CONFIG_HOME nor HOME is set: cannot tell where to keep the login")]
    NoHome,
    #[error("not logged in: run `berth login --url URL --token TOKEN` (or set BERTH_URL and BERTH_TOKEN)")]
    NotLoggedIn,
    #[error("BERTH_URL is {0}, not the Berth of the saved login: set BERTH_TOKEN for it too")]
    OtherUrl(String),
    #[error("{} cannot be read: {cause}", path.display())]
    Read { path: PathBuf, cause: String },
    #[error("{} cannot be written: {cause}", path.display())]
    Write { path: PathBuf, cause: String },
}

/// The environment the login is found from, passed in so tests need not set
/// the process's own.
#[derive(Debug, Clone, Default)]
pub struct Env {
    pub xdg_config_home: Option<String>,
    pub home: Option<String>,
    pub url: Option<String>,
    pub token: Option<String>,
}

impl Env {
    /// This process's environment; empty values count as unset.
    pub fn current() -> Env {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
        Env {
            xdg_config_home: var("XDG_CONFIG_HOME"),
            home: var("HOME"),
            url: var("BERTH_URL"),
            token: var("BERTH_TOKEN"),
        }
    }

    /// `$XDG_CONFIG_HOME/berth/config.json`, else `$HOME/.config/berth/config.json`.
    pub fn path(&self) -> Result<PathBuf, ConfigError> {
        let base = match (&self.xdg_config_home, &self.home) {
            // The XDG spec ignores a relative XDG_CONFIG_HOME.
            (Some(x), _) if Path::new(x).is_absolute() => PathBuf::from(x),
            (_, Some(home)) => Path::new(home).join(".config"),
            _ => return Err(ConfigError::NoHome),
        };
        Ok(base.join("berth").join("config.json"))
    }

    /// The login to use: the variables over the saved file, each on its own (a
    /// `BERTH_TOKEN` alone uses the saved URL).
    pub fn login(&self) -> Result<Login, ConfigError> {
        let saved = match (&self.url, &self.token) {
            (Some(_), Some(_)) => None,
            _ => load(&self.path()?)?,
        };
        // The saved token goes only to the Berth it was saved for: a BERTH_URL
        // naming another one needs its own BERTH_TOKEN.
        if let (Some(url), None, Some(s)) = (&self.url, &self.token, &saved) {
            if url.trim_end_matches('/') != s.url.trim_end_matches('/') {
                return Err(ConfigError::OtherUrl(url.clone()));
            }
        }
        let url = self
            .url
            .clone()
            .or_else(|| saved.as_ref().map(|l| l.url.clone()));
        let token = self.token.clone().or(saved.map(|l| l.token));
        match (url, token) {
            (Some(url), Some(token)) => Ok(Login { url, token }),
            _ => Err(ConfigError::NotLoggedIn),
        }
    }
}

/// The saved login, if there is one.
pub fn load(path: &Path) -> Result<Option<Login>, ConfigError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(read_error(path, e)),
    };
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| read_error(path, format!("{e}; run `berth login` again")))
}

/// Saves the login: the folder made 0700, the file written 0600 beside it and
/// renamed over the old one, so a reader never sees half a file and the token is
/// never readable by others, not even for a moment.
pub fn save(path: &Path, login: &Login) -> Result<(), ConfigError> {
    let dir = path
        .parent()
        .ok_or_else(|| write_error(path, "no folder"))?;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| write_error(dir, e))?;
    // A folder that existed before keeps whatever mode it had; ours is private.
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
        .map_err(|e| write_error(dir, e))?;
    let tmp = dir.join(".config.json.tmp");
    let _ = std::fs::remove_file(&tmp);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(|e| write_error(&tmp, e))?;
    let text = serde_json::to_string_pretty(login).map_err(|e| write_error(path, e))?;
    file.write_all(format!("{text}\n").as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| write_error(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| write_error(path, e))
}

fn read_error(path: &Path, cause: impl std::fmt::Display) -> ConfigError {
    ConfigError::Read {
        path: path.to_path_buf(),
        cause: cause.to_string(),
    }
}

fn write_error(path: &Path, cause: impl std::fmt::Display) -> ConfigError {
    ConfigError::Write {
        path: path.to_path_buf(),
        cause: cause.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(dir: &Path) -> Env {
        Env {
            xdg_config_home: Some(dir.join("xdg").display().to_string()),
            home: Some(dir.join("home").display().to_string()),
            ..Env::default()
        }
    }

    fn login(url: &str, token: &str) -> Login {
        Login {
            url: url.into(),
            token: token.into(),
        }
    }

    #[test]
    fn where_the_file_is() {
        let e = Env {
            xdg_config_home: Some("/x".into()),
            home: Some("/h".into()),
            ..Env::default()
        };
        assert_eq!(e.path().unwrap(), Path::new("/x/berth/config.json"));
        let e = Env {
            xdg_config_home: Some("relative".into()),
            home: Some("/h".into()),
            ..Env::default()
        };
        assert_eq!(e.path().unwrap(), Path::new("/h/.config/berth/config.json"));
        assert!(matches!(Env::default().path(), Err(ConfigError::NoHome)));
    }

    #[test]
    fn saved_and_read_back_privately() {
        let dir = crate::testing::TempDir::new();
        let e = env(&dir.0);
        let path = e.path().unwrap();
        assert!(matches!(e.login(), Err(ConfigError::NotLoggedIn)));
        save(&path, &login("http://a:1", "berth_one")).unwrap();
        // Again, over the first: the rename replaces it.
        save(&path, &login("http://b:2", "berth_two")).unwrap();
        assert_eq!(e.login().unwrap(), login("http://b:2", "berth_two"));
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(path.parent().unwrap()), 0o700);
        assert!(!path.parent().unwrap().join(".config.json.tmp").exists());
        assert!(!format!("{:?}", e.login().unwrap()).contains("berth_two"));
    }

    #[test]
    fn variables_override_the_file() {
        let dir = crate::testing::TempDir::new();
        let mut e = env(&dir.0);
        save(&e.path().unwrap(), &login("http://file:1", "berth_file")).unwrap();
        e.token = Some("berth_env".into());
        assert_eq!(e.login().unwrap(), login("http://file:1", "berth_env"));
        e.url = Some("http://env:2".into());
        assert_eq!(e.login().unwrap(), login("http://env:2", "berth_env"));
        // The saved token never goes to another Berth.
        e.token = None;
        let err = e.login().unwrap_err().to_string();
        assert!(err.contains("set BERTH_TOKEN"), "{err}");
        e.url = Some("http://file:1/".into());
        assert_eq!(e.login().unwrap(), login("http://file:1/", "berth_file"));
        e.token = Some("berth_env".into());
        e.url = Some("http://env:2".into());
        // Both set: the file is not even read (a broken one does not matter).
        std::fs::write(e.path().unwrap(), "not json").unwrap();
        assert_eq!(e.login().unwrap(), login("http://env:2", "berth_env"));
        e.url = None;
        let err = e.login().unwrap_err().to_string();
        assert!(err.contains("berth login"), "{err}");
    }
}

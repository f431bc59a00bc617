//! The file `plan` and `apply` send, and the files it names: a Compose service's
//! `env_file` entries, read from beside it and sent keyed by the path as written,
//! since the server cannot see the client's disk.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde_norway::Value;

/// Why the file or one it names cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum FilesError {
    #[error("{} cannot be read: {cause}", path.display())]
    Main { path: PathBuf, cause: String },
    #[error("env_file {written:?} of service {service} cannot be read ({}): {cause}", path.display())]
    EnvFile {
        service: String,
        written: String,
        path: PathBuf,
        cause: String,
    },
    /// A file from elsewhere must not make the CLI send what lies outside its
    /// folder (another project's `.env`, `/proc/self/environ`).
    #[error("env_file {written:?} of service {service} is outside the file's folder: write a path inside it, without `..`")]
    Outside { service: String, written: String },
}

/// A stack or Compose file and the files it refers to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    pub file: String,
    pub files: BTreeMap<String, String>,
}

/// One `env_file` entry of a service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvFile {
    pub service: String,
    /// As written in the file.
    pub path: String,
    /// Compose's `required: false` allows a missing file.
    pub required: bool,
}

/// Reads `path` (`-`: stdin) and every `env_file` it names, relative to its
/// folder (the working directory for stdin).
pub fn read(path: &Path) -> Result<Source, FilesError> {
    let main_error = |cause: String| FilesError::Main {
        path: path.to_path_buf(),
        cause,
    };
    let (file, dir) = if path == Path::new("-") {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|e| main_error(e.to_string()))?;
        (text, PathBuf::from("."))
    } else {
        let text = std::fs::read_to_string(path).map_err(|e| main_error(e.to_string()))?;
        let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        (text, dir)
    };
    let files = read_env_files(&dir, &env_files(&file))?;
    Ok(Source { file, files })
}

/// Reads each entry relative to `dir`; a missing optional one is left out.
pub fn read_env_files(
    dir: &Path,
    entries: &[EnvFile],
) -> Result<BTreeMap<String, String>, FilesError> {
    let mut files = BTreeMap::new();
    for entry in entries {
        if files.contains_key(&entry.path) {
            continue;
        }
        let inside = Path::new(&entry.path).components().all(|c| {
            matches!(
                c,
                std::path::Component::Normal(_) | std::path::Component::CurDir
            )
        });
        if !inside {
            return Err(FilesError::Outside {
                service: entry.service.clone(),
                written: entry.path.clone(),
            });
        }
        let path = dir.join(&entry.path);
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                files.insert(entry.path.clone(), text);
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !entry.required => {}
            Err(e) => {
                return Err(FilesError::EnvFile {
                    service: entry.service.clone(),
                    written: entry.path.clone(),
                    path,
                    cause: e.to_string(),
                })
            }
        }
    }
    Ok(files)
}

/// The `env_file` entries of a Compose file's services: a string, a list of
/// strings, or a list of `{path, required}`. A file that is not YAML names none:
/// the server says where it is wrong, with the line and column.
pub fn env_files(yaml: &str) -> Vec<EnvFile> {
    let Ok(doc) = serde_norway::from_str::<Value>(yaml) else {
        return Vec::new();
    };
    let Some(services) = doc.get("services").and_then(Value::as_mapping) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (name, service) in services {
        let service_name = name.as_str().unwrap_or("?").to_string();
        let entry = |path: &str, required: bool| EnvFile {
            service: service_name.clone(),
            path: path.to_string(),
            required,
        };
        match service.get("env_file") {
            Some(Value::String(path)) => out.push(entry(path, true)),
            Some(Value::Sequence(items)) => {
                out.extend(items.iter().filter_map(|item| match item {
                    Value::String(path) => Some(entry(path, true)),
                    Value::Mapping(_) => item.get("path").and_then(Value::as_str).map(|p| {
                        let required = item.get("required").and_then(Value::as_bool);
                        entry(p, required.unwrap_or(true))
                    }),
                    _ => None,
                }))
            }
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paths(yaml: &str) -> Vec<(String, String, bool)> {
        env_files(yaml)
            .into_iter()
            .map(|e| (e.service, e.path, e.required))
            .collect()
    }

    fn own(items: &[(&str, &str, bool)]) -> Vec<(String, String, bool)> {
        items
            .iter()
            .map(|(s, p, r)| (s.to_string(), p.to_string(), *r))
            .collect()
    }

    #[test]
    fn every_form_of_env_file() {
        let yaml = "
services:
  web:
    image: demo
    env_file: web.env
  api:
    image: demo
    env_file: [common.env, ./api.env]
  worker:
    image: demo
    env_file:
      - path: worker.env
      - path: local.env
        required: false
      - 42
  db:
    image: postgres
";
        assert_eq!(
            paths(yaml),
            own(&[
                ("web", "web.env", true),
                ("api", "common.env", true),
                ("api", "./api.env", true),
                ("worker", "worker.env", true),
                ("worker", "local.env", false),
            ])
        );
    }

    #[test]
    fn files_without_env_files() {
        assert!(paths("kind: berth/stack\nservices:\n  web: {replicas: 1}\n").is_empty());
        assert!(paths("services: [1, 2]").is_empty());
        assert!(paths("services:\n  web:\n    image: [unclosed").is_empty());
        assert!(paths("").is_empty());
    }

    #[test]
    fn read_beside_the_file() {
        let dir = crate::testing::TempDir::new();
        std::fs::create_dir(dir.0.join("conf")).unwrap();
        std::fs::write(dir.0.join("conf/web.env"), "A=1\n").unwrap();
        std::fs::write(dir.0.join("shared.env"), "B=2\n").unwrap();
        let compose = "services:\n  web:\n    image: demo\n    env_file: [conf/web.env, shared.env, {path: gone.env, required: false}]\n  api:\n    image: demo\n    env_file: shared.env\n";
        let main = dir.0.join("compose.yml");
        std::fs::write(&main, compose).unwrap();
        let source = read(&main).unwrap();
        assert_eq!(source.file, compose);
        assert_eq!(
            source.files.into_iter().collect::<Vec<_>>(),
            vec![
                ("conf/web.env".to_string(), "A=1\n".to_string()),
                ("shared.env".to_string(), "B=2\n".to_string()),
            ]
        );
    }

    #[test]
    fn env_files_outside_the_folder_are_refused() {
        let dir = crate::testing::TempDir::new();
        for written in ["../secret.env", "/etc/environment", "conf/../../x.env"] {
            let entry = EnvFile {
                service: "web".into(),
                path: written.into(),
                required: true,
            };
            let e = read_env_files(&dir.0, &[entry]).unwrap_err().to_string();
            assert!(e.contains("outside the file's folder"), "{written}: {e}");
        }
    }

    #[test]
    fn a_missing_env_file_is_named() {
        let dir = crate::testing::TempDir::new();
        let main = dir.0.join("compose.yml");
        std::fs::write(
            &main,
            "services:\n  web:\n    image: demo\n    env_file: web.env\n",
        )
        .unwrap();
        let e = read(&main).unwrap_err().to_string();
        assert!(
            e.starts_with("env_file \"web.env\" of service web cannot be read ("),
            "{e}"
        );
        assert!(e.contains("No such file"), "{e}");
        let e = read(&dir.0.join("nope.yml")).unwrap_err().to_string();
        assert!(e.contains("nope.yml cannot be read"), "{e}");
    }
}

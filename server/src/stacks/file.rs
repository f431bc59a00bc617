//! Berth's own stack file (`kind: berth/stack`): read into wanted services, and
//! written from the services as they stand (export), so that exporting and then
//! planning finds nothing to change.

use domain::wire::{StackFile, StackFormat, StackService, STACK_KIND};

use super::{yaml_error, Parsed, StackError, Wanted};

/// Whether a YAML document is a Berth stack file: it says so on top.
pub(super) fn is_stack(value: &serde_norway::Value) -> bool {
    value
        .get("kind")
        .and_then(|k| k.as_str())
        .is_some_and(|k| k == STACK_KIND)
}

/// Reads a stack file. A team given by the caller must agree with the file's.
pub fn read_stack(text: &str, team: Option<&str>) -> Result<Parsed, StackError> {
    let file: StackFile = serde_norway::from_str(text).map_err(|e| yaml_error(&e))?;
    if file.kind != STACK_KIND {
        return Err(StackError::Invalid(format!(
            "a stack file starts with `kind: {STACK_KIND}`"
        )));
    }
    let file_team = file.team.as_deref().map(str::trim);
    if let (Some(a), Some(b)) = (file_team, team.map(str::trim)) {
        if !a.eq_ignore_ascii_case(b) {
            return Err(StackError::Invalid(format!(
                "the file is for team {a:?}, not {b:?}"
            )));
        }
    }
    let default_team = file_team.or(team.map(str::trim));
    let mut services = Vec::new();
    for (name, s) in file.services {
        if let (Some(own), Some(chosen)) = (s.team.as_deref(), team.map(str::trim)) {
            if !own.trim().eq_ignore_ascii_case(chosen) {
                return Err(StackError::Invalid(format!(
                    "service {name} is for team {own:?}, not {chosen:?}"
                )));
            }
        }
        let team = s
            .team
            .as_deref()
            .or(default_team)
            .ok_or_else(|| {
                StackError::Invalid(format!(
                    "service {name}: no team; write `team:` on top of the file or in the service"
                ))
            })?
            .to_string();
        services.push(Wanted {
            name,
            team,
            replicas: s.replicas,
            spec: s.spec,
            proxy: s.proxy,
        });
    }
    Ok(Parsed {
        format: StackFormat::Stack,
        services,
        notes: Vec::new(),
    })
}

/// Writes services as a stack file: one team on top when they share one.
pub fn write_stack(services: Vec<Wanted>) -> String {
    let mut teams: Vec<&str> = services.iter().map(|w| w.team.as_str()).collect();
    teams.sort_unstable();
    teams.dedup();
    let one = (teams.len() == 1).then(|| teams[0].to_string());
    let file = StackFile {
        kind: STACK_KIND.to_string(),
        team: one.clone(),
        services: services
            .into_iter()
            .map(|w| {
                let team = if one.is_some() { None } else { Some(w.team) };
                let s = StackService {
                    team,
                    replicas: w.replicas,
                    spec: w.spec,
                    proxy: w.proxy,
                };
                (w.name, s)
            })
            .collect(),
    };
    // Plain data (strings, numbers, maps): it always serialises.
    serde_norway::to_string(&file).expect("a stack file always serialises")
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::wire::{EnvValue, ProxyConfig, SecretRef, ServiceSpec};

    fn wanted(name: &str, team: &str) -> Wanted {
        let mut spec: ServiceSpec = serde_json::from_value(
            serde_json::json!({"image": "registry.local/web:v1", "port": 8080}),
        )
        .unwrap();
        spec.env.insert("MODE".into(), EnvValue::plain("prod"));
        spec.env.insert(
            "DB".into(),
            EnvValue::Secret(SecretRef {
                secret: "db-pass".into(),
                version: Some(2),
            }),
        );
        Wanted {
            name: name.into(),
            team: team.into(),
            replicas: 2,
            spec,
            proxy: ProxyConfig::default(),
        }
    }

    #[test]
    fn written_files_read_back_the_same() {
        for services in [
            vec![wanted("web", "shop"), wanted("api", "shop")],
            vec![wanted("web", "shop"), wanted("ops", "infra")],
            vec![],
        ] {
            let text = write_stack(services.clone());
            let parsed = read_stack(&text, None).unwrap_or_else(|e| panic!("{e}\n{text}"));
            let mut want = services;
            want.sort_by(|a, b| a.name.cmp(&b.name));
            assert_eq!(parsed.services, want, "{text}");
        }
    }

    #[test]
    fn one_team_is_written_once() {
        let text = write_stack(vec![wanted("web", "shop"), wanted("api", "shop")]);
        assert!(
            text.starts_with("kind: berth/stack\nteam: shop\n"),
            "{text}"
        );
        assert_eq!(text.matches("team:").count(), 1, "{text}");
    }

    #[test]
    fn refusals_are_in_words_with_a_place() {
        let cases: &[(&str, Option<&str>, &str)] = &[
            ("kind: berth/stack\nservices:\n  web:\n    replicas: two\n", Some("shop"), "line 4"),
            ("kind: berth/stack\nteam: shop\nservices:\n  web:\n    replicas: 1\n    spec: {image: a}\n    colour: red\n", None, "unknown field `colour`"),
            ("kind: berth/stack\nservices:\n  web:\n    replicas: 1\n    spec: {image: a}\n", None, "service web: no team"),
            ("kind: berth/stack\nteam: shop\n", Some("ops"), "the file is for team \"shop\", not \"ops\""),
            ("kind: berth/stack\nservices:\n  web:\n    team: infra\n    replicas: 1\n    spec: {image: a}\n", Some("shop"), "service web is for team \"infra\", not \"shop\""),
        ];
        for (text, team, want) in cases {
            let got = read_stack(text, *team).unwrap_err().to_string();
            assert!(got.contains(want), "{text}: {got}");
        }
    }
}

//! Rules for a host pool: its name, its provider command, its bounds.

use super::{dns_label, label};
use crate::wire::{PoolInput, Provider};

/// The longest pool name: its hosts are named `<pool>-<6 hex>`, a DNS label.
pub const POOL_NAME_MAX: usize = 40;
/// The most hosts one pool may have.
pub const POOL_MAX_HOSTS: u32 = 1000;

pub fn pool_name(s: &str) -> Result<(), String> {
    if dns_label(s) && s.len() <= POOL_NAME_MAX {
        Ok(())
    } else {
        Err(format!(
            "invalid pool name {s:?}: use 1 to {POOL_NAME_MAX} lowercase letters, digits or '-', not starting or ending with '-'"
        ))
    }
}

/// A provider's command: an absolute path and a few arguments, printable, without
/// anything a shell would read (Berth runs it directly, never through a shell).
pub fn provider(p: &Provider) -> Result<(), String> {
    let Provider::Command { command, args } = p;
    let printable = |s: &str| !s.chars().any(|c| c.is_control());
    if !command.starts_with('/') || command.len() > 4096 || !printable(command) {
        return Err(format!(
            "invalid provider command {command:?}: give the absolute path of an executable, as in /usr/local/bin/make-host"
        ));
    }
    if command.split('/').any(|part| part == "..") {
        return Err(format!(
            "invalid provider command {command:?}: the path may not contain '..'"
        ));
    }
    if args.len() > 16 {
        return Err("a provider takes at most 16 arguments".into());
    }
    if let Some(a) = args.iter().find(|a| a.len() > 1024 || !printable(a)) {
        return Err(format!(
            "invalid provider argument {a:?}: use at most 1024 printable characters"
        ));
    }
    Ok(())
}

/// A whole pool, as an admin gives it.
pub fn pool(p: &PoolInput) -> Result<(), String> {
    pool_name(&p.name)?;
    provider(&p.provider)?;
    for (k, v) in &p.labels {
        label(k, v)?;
    }
    if p.cpu_millis == 0 || p.cpu_millis > 1_024_000 {
        return Err("a pool's host needs from 0.001 to 1024 CPUs".into());
    }
    if p.memory_bytes < 1 << 20 || p.memory_bytes > 1 << 50 {
        return Err("a pool's host needs from 1 MiB to 1 PiB of memory".into());
    }
    if p.max_hosts == 0 || p.max_hosts > POOL_MAX_HOSTS {
        return Err(format!("max hosts must be from 1 to {POOL_MAX_HOSTS}"));
    }
    if p.min_hosts > p.max_hosts {
        return Err(format!(
            "min hosts ({}) may not be above max hosts ({})",
            p.min_hosts, p.max_hosts
        ));
    }
    if !(10..=7 * 86_400).contains(&p.idle_secs) {
        return Err("idle time must be from 10 s to 7 days".into());
    }
    if !(5..=86_400).contains(&p.boot_timeout_secs) {
        return Err("the time a new host may take to answer must be from 5 s to 1 day".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn input() -> PoolInput {
        PoolInput {
            name: "web".into(),
            provider: Provider::Command {
                command: "/usr/local/bin/make-host".into(),
                args: vec!["--zone".into(), "a".into()],
            },
            labels: BTreeMap::from([("pool".into(), "web".into())]),
            cpu_millis: 2000,
            memory_bytes: 4 << 30,
            min_hosts: 0,
            max_hosts: 5,
            idle_secs: 600,
            boot_timeout_secs: 600,
        }
    }

    #[test]
    fn a_good_pool_passes_and_each_bad_field_is_refused_in_words() {
        assert_eq!(pool(&input()), Ok(()));
        type Edit = fn(&mut PoolInput);
        let table: &[(Edit, &str)] = &[
            (|p| p.name = "Web".into(), "invalid pool name"),
            (|p| p.name = "a".repeat(41), "invalid pool name"),
            (|p| p.name = "-web".into(), "invalid pool name"),
            (
                |p| {
                    p.provider = Provider::Command {
                        command: "make-host".into(),
                        args: vec![],
                    }
                },
                "absolute path",
            ),
            (
                |p| {
                    p.provider = Provider::Command {
                        command: "/opt/../bin/sh".into(),
                        args: vec![],
                    }
                },
                "'..'",
            ),
            (
                |p| {
                    p.provider = Provider::Command {
                        command: "/bin/x".into(),
                        args: vec!["a\nb".into()],
                    }
                },
                "invalid provider argument",
            ),
            (
                |p| p.labels = BTreeMap::from([("bad key".into(), "x".into())]),
                "label",
            ),
            (|p| p.cpu_millis = 0, "CPUs"),
            (|p| p.memory_bytes = 1000, "memory"),
            (|p| p.max_hosts = 0, "max hosts"),
            (
                |p| {
                    p.min_hosts = 6;
                },
                "min hosts (6) may not be above max hosts (5)",
            ),
            (|p| p.idle_secs = 1, "idle time"),
            (|p| p.boot_timeout_secs = 0, "to answer"),
        ];
        for (edit, words) in table {
            let mut p = input();
            edit(&mut p);
            let err = pool(&p).expect_err(words);
            assert!(err.contains(words), "{err:?} should say {words:?}");
        }
    }
}

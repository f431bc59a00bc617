//! Which Compose keys Berth takes, which it leaves out and which it refuses, at
//! each level of the file, each with the reason a person reads in the plan.
//! Nothing is dropped in silence: a key not listed here is left out as unknown.

use serde_norway::Value;

/// What Berth does with one key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Take {
    /// Read and mapped onto the service.
    Map,
    Ignore(&'static str),
    Refuse(&'static str),
}

const HOST_POWER: &str = "it gives a replica power over its host; Berth does not run it";
const NETWORK: &str =
    "replicas are on their hosts' Docker networks and reach each other through Berth's proxy";
const NOT_SET: &str = "Berth does not set it on replicas; the image's own setting applies";
const UNKNOWN: &str = "not a Compose key Berth knows";

/// A key on top of the file.
pub fn top(key: &str) -> Take {
    match key {
        "services" | "volumes" | "secrets" => Take::Map,
        "version" => Take::Ignore("obsolete in Compose; Berth reads every version alike"),
        "name" => Take::Ignore("services are named by their keys and belong to the stack's team"),
        "networks" => Take::Ignore(NETWORK),
        "configs" => Take::Ignore("Berth has no configs; a service that uses one is refused"),
        "include" => Take::Refuse("Berth reads one file; write the included services into it"),
        k if k.starts_with("x-") => Take::Ignore("an extension; Berth reads none"),
        _ => Take::Ignore(UNKNOWN),
    }
}

/// A key of a service; `value` decides where a harmless setting is allowed.
pub fn service(key: &str, value: &Value) -> Take {
    match key {
        "image" | "command" | "entrypoint" | "environment" | "env_file" | "ports" | "deploy"
        | "healthcheck" | "volumes" | "secrets" | "labels" | "restart" | "mem_limit"
        | "mem_reservation" | "cpus" | "scale" => Take::Map,
        "build" => Take::Ignore(
            "Berth runs images and does not build them: build and push the image, then name it in `image`",
        ),
        "container_name" => Take::Ignore(
            "Berth names each replica's container; a fixed name would allow only one replica",
        ),
        "depends_on" => Take::Ignore(
            "Berth starts services independently; a service that needs another waits for it through its health check",
        ),
        "privileged" | "read_only" | "init" | "tty" | "stdin_open" if value.as_bool() == Some(false) => {
            Take::Ignore("false is what Berth does anyway")
        }
        "network_mode" if matches!(value.as_str(), Some("bridge" | "default")) => {
            Take::Ignore(NETWORK)
        }
        "security_opt" if no_new_privileges(value) => {
            Take::Ignore("Berth runs every container with no-new-privileges")
        }
        "privileged" | "cap_add" | "devices" | "pid" | "ipc" | "uts" | "network_mode"
        | "userns_mode" | "security_opt" | "sysctls" | "cgroup_parent" | "cgroup"
        | "volumes_from" | "device_cgroup_rules" | "gpus" | "runtime" | "isolation" => {
            Take::Refuse(HOST_POWER)
        }
        "extends" => Take::Refuse(
            "Berth does not merge services from elsewhere; write the service out in full",
        ),
        "configs" => Take::Refuse("Berth has no configs: put the setting in the environment or a secret"),
        "networks" | "links" | "external_links" | "expose" | "hostname" | "domainname" | "dns"
        | "dns_opt" | "dns_search" | "extra_hosts" | "mac_address" => Take::Ignore(NETWORK),
        "profiles" => Take::Ignore("Berth applies every service of the file"),
        "logging" => Take::Ignore("Berth reads replicas' logs from Docker's default log driver"),
        "stop_grace_period" | "stop_signal" => Take::Ignore(
            "Berth drains a replica from the proxy, then stops it with its own drain timeout",
        ),
        "pull_policy" => Take::Ignore("Berth pulls an image a host does not have"),
        "platform" => Take::Ignore("Berth runs the image the host's engine pulls for itself"),
        "cap_drop" | "user" | "working_dir" | "read_only" | "init" | "tty" | "stdin_open"
        | "shm_size" | "tmpfs" | "ulimits" | "mem_swappiness" | "memswap_limit"
        | "oom_score_adj" | "oom_kill_disable" | "pids_limit" | "group_add" | "storage_opt"
        | "cpu_shares" | "cpu_quota" | "cpu_period" | "cpuset" | "cpu_count" | "cpu_percent"
        | "blkio_config" | "annotations" | "attach" | "credential_spec" => Take::Ignore(NOT_SET),
        "develop" | "post_start" | "pre_stop" | "label_file" | "models" | "provider" => {
            Take::Ignore("a Compose tool's setting with no meaning for Berth")
        }
        k if k.starts_with("x-") => Take::Ignore("an extension; Berth reads none"),
        _ => Take::Ignore(UNKNOWN),
    }
}

/// `security_opt: [no-new-privileges…]` and nothing else: what Berth does anyway.
fn no_new_privileges(value: &Value) -> bool {
    value.as_sequence().is_some_and(|items| {
        items.iter().all(|i| {
            i.as_str().is_some_and(|s| {
                matches!(
                    s,
                    "no-new-privileges" | "no-new-privileges:true" | "no-new-privileges=true"
                )
            })
        })
    })
}

/// A key under a service's `deploy`.
pub fn deploy(key: &str, value: &Value) -> Take {
    match key {
        "replicas" | "resources" | "update_config" | "placement" | "restart_policy" | "labels" => {
            Take::Map
        }
        "mode" if matches!(value.as_str(), Some("replicated")) => {
            Take::Ignore("replicated is what Berth does")
        }
        "mode" => Take::Refuse("Berth has no global mode: set `replicas`"),
        "rollback_config" => Take::Ignore("a rollback goes back with the service's update policy"),
        "endpoint_mode" => Take::Ignore("Berth's proxy spreads requests over the replicas"),
        _ => Take::Ignore(UNKNOWN),
    }
}

/// A key under `deploy.update_config`.
pub fn update_config(key: &str) -> Take {
    match key {
        "parallelism" | "delay" | "failure_action" | "monitor" | "order" => Take::Map,
        "max_failure_ratio" => Take::Ignore("any failed new replica fails a rollout"),
        _ => Take::Ignore(UNKNOWN),
    }
}

/// A key under `deploy.restart_policy`.
pub fn restart_policy(key: &str) -> Take {
    match key {
        "condition" => Take::Map,
        "delay" | "max_attempts" | "window" => Take::Ignore(
            "Berth replaces a stopped replica at once and backs off by itself when it keeps failing",
        ),
        _ => Take::Ignore(UNKNOWN),
    }
}

/// A key under `deploy.placement`.
pub fn placement(key: &str) -> Take {
    match key {
        "constraints" => Take::Map,
        "preferences" => Take::Ignore("Berth spreads a service's replicas over hosts by itself"),
        "max_replicas_per_node" => {
            Take::Ignore("Berth has no per-host limit; spread placement is the default")
        }
        _ => Take::Ignore(UNKNOWN),
    }
}

/// A key under `deploy.resources.limits` or `.reservations`.
pub fn resources(key: &str) -> Take {
    match key {
        "cpus" | "memory" => Take::Map,
        "devices" | "generic_resources" => Take::Refuse(HOST_POWER),
        "pids" => Take::Ignore(NOT_SET),
        _ => Take::Ignore(UNKNOWN),
    }
}

/// A key under `healthcheck`.
pub fn healthcheck(key: &str) -> Take {
    match key {
        "test" | "interval" | "timeout" | "retries" | "start_period" | "disable" => Take::Map,
        "start_interval" => Take::Ignore("Berth checks at `interval` from the start"),
        _ => Take::Ignore(UNKNOWN),
    }
}

/// A key of a volume on top of the file.
pub fn volume(key: &str) -> Take {
    match key {
        "driver" | "driver_opts" | "labels" => Take::Map,
        "name" => Take::Ignore("Berth names a service's volumes `berth.<service>.<volume>`"),
        "external" => {
            Take::Refuse("Berth makes the volumes it mounts; an existing volume is not its to take")
        }
        _ => Take::Ignore(UNKNOWN),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn harmless_settings_are_left_out_and_powerful_ones_refused() {
        let no = Value::Bool(false);
        let yes = Value::Bool(true);
        let host = Value::String("host".into());
        let bridge = Value::String("bridge".into());
        let cases: &[(&str, &Value, &str)] = &[
            ("privileged", &no, "ignore"),
            ("privileged", &yes, "refuse"),
            ("network_mode", &bridge, "ignore"),
            ("network_mode", &host, "refuse"),
            ("cap_add", &yes, "refuse"),
            ("build", &yes, "ignore"),
            ("container_name", &yes, "ignore"),
            ("image", &yes, "map"),
            ("frobnicate", &yes, "ignore"),
        ];
        for (key, value, want) in cases {
            let got = match service(key, value) {
                Take::Map => "map",
                Take::Ignore(_) => "ignore",
                Take::Refuse(_) => "refuse",
            };
            assert_eq!(got, *want, "{key}");
        }
    }
}

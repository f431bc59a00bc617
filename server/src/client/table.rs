//! What the client commands print for people: aligned tables of services,
//! replicas and hosts, with their status words, and short ages and sizes.

use domain::wire::{
    EachHostView, HostView, ReplicaView, ServiceHistoryView, ServiceView, WhatIfView,
};

/// Columns aligned on the widest cell, two spaces apart; the last column is not
/// padded (no trailing spaces).
#[derive(Debug, Default)]
pub struct Table {
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(headers: &[&str]) -> Table {
        Table {
            rows: vec![headers.iter().map(|h| h.to_string()).collect()],
        }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    pub fn render(&self) -> String {
        let columns = self.rows.iter().map(Vec::len).max().unwrap_or(0);
        let widths: Vec<usize> = (0..columns)
            .map(|c| {
                self.rows
                    .iter()
                    .filter_map(|r| r.get(c))
                    .map(|cell| cell.chars().count())
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let mut out = String::new();
        for row in &self.rows {
            let mut line = String::new();
            for (c, cell) in row.iter().enumerate() {
                if c + 1 == row.len() {
                    line.push_str(cell);
                } else {
                    let pad = widths[c] - cell.chars().count();
                    line.push_str(cell);
                    line.push_str(&" ".repeat(pad + 2));
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

/// `berth services`.
pub fn services(list: &[ServiceView]) -> String {
    let mut t = Table::new(&[
        "NAME", "TEAM", "READY", "STATUS", "REVISION", "IMAGE", "ROLLOUT",
    ]);
    for s in list {
        let rollout = s
            .rollout
            .as_ref()
            .map(|r| {
                format!(
                    "{} → {} {}",
                    r.from_revision,
                    r.to_revision,
                    r.state.as_str()
                )
            })
            .unwrap_or_else(|| "-".into());
        t.row(vec![
            s.name.clone(),
            s.team.clone(),
            format!("{}/{}", s.healthy, s.replicas),
            s.phase.as_str().into(),
            s.revision.to_string(),
            s.spec.image.clone(),
            rollout,
        ]);
    }
    t.render()
}

/// `berth ps NAME`: its replicas, by slot.
pub fn replicas(service: &ServiceView, now_ms: i64) -> String {
    let mut t = Table::new(&[
        "REPLICA", "REVISION", "HOST", "STATE", "HEALTH", "ENDPOINT", "RESTARTS", "AGE", "NOTE",
    ]);
    for r in &service.instances {
        t.row(replica_row(r, now_ms));
    }
    t.render()
}

fn replica_row(r: &ReplicaView, now_ms: i64) -> Vec<String> {
    let revision = if r.current {
        r.revision.to_string()
    } else {
        format!("{} (old)", r.revision)
    };
    let note = r
        .note
        .clone()
        .or_else(|| r.last_exit.clone().map(|e| format!("last {e}")))
        .unwrap_or_default();
    vec![
        r.slot.to_string(),
        revision,
        or_dash(&r.host),
        r.state.as_str().into(),
        r.health.as_str().into(),
        r.endpoint.clone().unwrap_or_else(|| "-".into()),
        r.restarts.to_string(),
        if r.created_at_ms > 0 {
            age(now_ms - r.created_at_ms)
        } else {
            "-".into()
        },
        note,
    ]
}

/// `berth hosts`.
pub fn hosts(list: &[HostView]) -> String {
    let mut t = Table::new(&[
        "NAME",
        "STATE",
        "ADDRESS",
        "CPUS",
        "RESERVED",
        "CONTAINERS",
        "HEARTBEAT",
        "ENGINE",
    ]);
    for h in list {
        let (cpus, memory, engine) = match &h.facts {
            Some(f) => (
                f.cpus.to_string(),
                format!(
                    "{} / {}",
                    bytes(h.reserved_memory_bytes.max(0) as u64),
                    bytes(f.memory_bytes.max(0) as u64)
                ),
                f.version.clone(),
            ),
            None => ("-".into(), "-".into(), "-".into()),
        };
        let heartbeat = h
            .heartbeat_age_ms
            .map(|ms| format!("{} ago", age(ms)))
            .unwrap_or_else(|| "never".into());
        t.row(vec![
            h.name.clone(),
            h.state.as_str().into(),
            or_dash(&h.address),
            cpus,
            memory,
            h.berth_containers.to_string(),
            heartbeat,
            engine,
        ]);
    }
    t.render()
}

fn or_dash(s: &str) -> String {
    if s.is_empty() {
        "-".into()
    } else {
        s.to_string()
    }
}

/// How long, in its largest unit: `850ms`, `12s`, `5m`, `3h`, `2d`.
pub fn age(ms: i64) -> String {
    let ms = ms.max(0);
    match ms {
        0..1_000 => format!("{ms}ms"),
        1_000..60_000 => format!("{}s", ms / 1_000),
        60_000..3_600_000 => format!("{}m", ms / 60_000),
        3_600_000..86_400_000 => format!("{}h", ms / 3_600_000),
        _ => format!("{}d", ms / 86_400_000),
    }
}

/// A size in binary units: `512 MiB`, `3.8 GiB`.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 || value >= 10.0 || value.fract() == 0.0 {
        format!("{} {}", value.round() as u64, UNITS[unit])
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// What losing some hosts would do: a sentence, then each list as a table.
pub fn whatif(v: &WhatIfView) -> String {
    let lost = v.lose.join(", ");
    let mut out = if v.moves.is_empty() && v.unplaced.is_empty() && v.stranded.is_empty() {
        format!("Losing {lost}: nothing of the services you can see would have to move.\n")
    } else if v.whole {
        format!("Losing {lost}: no service would lose a replica.\n")
    } else {
        format!("Losing {lost}: SOME SERVICE WOULD LOSE REPLICAS.\n")
    };
    if !v.moves.is_empty() {
        let mut t = Table::new(&["SERVICE", "REPLICA", "FROM", "TO"]);
        for m in &v.moves {
            t.row(vec![
                m.service.clone(),
                m.slot.to_string(),
                m.from.clone(),
                m.to.clone(),
            ]);
        }
        out.push_str(&format!("\nWould move:\n{}", t.render()));
    }
    if !v.unplaced.is_empty() {
        let mut t = Table::new(&["SERVICE", "REPLICA", "FROM", "WHY"]);
        for u in &v.unplaced {
            t.row(vec![
                u.service.clone(),
                u.slot.to_string(),
                u.from.clone(),
                u.why.clone(),
            ]);
        }
        out.push_str(&format!("\nCould not be placed:\n{}", t.render()));
    }
    if !v.stranded.is_empty() {
        let mut t = Table::new(&["SERVICE", "REPLICA", "HOST", "VOLUMES"]);
        for s in &v.stranded {
            t.row(vec![
                s.service.clone(),
                s.slot.to_string(),
                s.host.clone(),
                s.volumes.join(","),
            ]);
        }
        out.push_str(&format!(
            "\nWould wait for volumes left on a lost host:\n{}",
            t.render()
        ));
    }
    out
}

/// The N-1 check: one line per host.
pub fn each_host(v: &EachHostView) -> String {
    if v.hosts.is_empty() {
        return "No hosts.\n".to_string();
    }
    let mut t = Table::new(&[
        "HOST LOST",
        "WHOLE",
        "MOVE",
        "NOT PLACED",
        "WAIT FOR VOLUMES",
    ]);
    for h in &v.hosts {
        t.row(vec![
            h.host.clone(),
            if h.whole { "yes" } else { "NO" }.to_string(),
            h.moves.to_string(),
            h.unplaced.to_string(),
            h.stranded.to_string(),
        ]);
    }
    let head = if v.whole {
        "Losing any one host would cost no service a replica.\n"
    } else {
        "Losing some host would cost a service replicas.\n"
    };
    format!("{head}{}", t.render())
}

/// A line of the last hour in 30 characters (`▁` to `█`, the highest of each
/// stretch of steps, scaled to the series' highest; a space where nothing was
/// sampled).
pub fn spark(values: &[Option<f64>]) -> String {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    const WIDTH: usize = 30;
    let top = values.iter().flatten().copied().fold(0.0f64, f64::max);
    let per = values.len().div_ceil(WIDTH).max(1);
    values
        .chunks(per)
        .map(
            |chunk| match chunk.iter().flatten().copied().reduce(f64::max) {
                None => ' ',
                Some(_) if top <= 0.0 => BARS[0],
                Some(v) => BARS[((v / top) * 7.0).round().clamp(0.0, 7.0) as usize],
            },
        )
        .collect()
}

/// A service's last hour: its traffic, then each replica that runs now.
pub fn history(v: &ServiceHistoryView) -> String {
    let last = |s: &[Option<f64>]| s.iter().rev().flatten().next().copied();
    let most = |s: &[Option<f64>]| s.iter().flatten().copied().reduce(f64::max);
    let show = |x: Option<f64>, f: &dyn Fn(f64) -> String| x.map(f).unwrap_or_else(|| "-".into());
    let minutes = match (v.times_ms.first(), v.times_ms.last()) {
        (Some(a), Some(b)) => (b - a) / 60_000,
        _ => 0,
    };
    let mut out = format!(
        "{}: the last {minutes} min, a sample every {} s\n\n",
        v.service,
        v.step_ms / 1000
    );
    let rate = |x: f64| format!("{x:.1}/s");
    let ratio = |x: f64| format!("{:.1}%", x * 100.0);
    let ms = |x: f64| format!("{x:.1}ms");
    let mut t = Table::new(&["TRAFFIC", "NOW", "MOST", "LAST HOUR"]);
    let t_ = &v.traffic;
    for (name, series, f) in [
        (
            "requests/s",
            &t_.requests_per_second,
            &rate as &dyn Fn(f64) -> String,
        ),
        ("error rate", &t_.error_rate, &ratio),
        ("p99", &t_.p99_ms, &ms),
    ] {
        t.row(vec![
            name.to_string(),
            show(last(series), f),
            show(most(series), f),
            spark(series),
        ]);
    }
    out.push_str(&t.render());
    let cpu = |x: f64| format!("{x:.1}%");
    let mem = |x: f64| bytes(x.max(0.0) as u64);
    let mut t = Table::new(&[
        "REPLICA",
        "HOST",
        "CPU",
        "CPU LAST HOUR",
        "MEMORY",
        "MEMORY LAST HOUR",
    ]);
    for r in v.replicas.iter().filter(|r| r.current) {
        t.row(vec![
            r.slot.to_string(),
            r.host.clone(),
            show(last(&r.cpu_percent), &cpu),
            spark(&r.cpu_percent),
            show(last(&r.memory_bytes), &mem),
            spark(&r.memory_bytes),
        ]);
    }
    out.push('\n');
    out.push_str(&t.render());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_line_up_without_trailing_spaces() {
        let mut t = Table::new(&["NAME", "STATUS", "NOTE"]);
        t.row(vec!["web".into(), "running".into(), "".into()]);
        t.row(vec![
            "database".into(),
            "degraded".into(),
            "replica 2 waits".into(),
        ]);
        assert_eq!(
            t.render(),
            "NAME      STATUS    NOTE\n\
             web       running\n\
             database  degraded  replica 2 waits\n"
        );
    }

    #[test]
    fn wide_characters_count_once() {
        let mut t = Table::new(&["A", "B"]);
        t.row(vec!["1 → 2".into(), "x".into()]);
        assert_eq!(t.render(), "A      B\n1 → 2  x\n");
    }

    #[test]
    fn ages_and_sizes() {
        assert_eq!(age(-5), "0ms");
        assert_eq!(age(850), "850ms");
        assert_eq!(age(12_400), "12s");
        assert_eq!(age(5 * 60_000 + 1), "5m");
        assert_eq!(age(3 * 3_600_000), "3h");
        assert_eq!(age(2 * 86_400_000), "2d");
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(512 * 1024 * 1024), "512 MiB");
        assert_eq!(bytes(4 * 1024 * 1024 * 1024), "4 GiB");
        assert_eq!(bytes(3_900_000_000), "3.6 GiB");
    }

    fn service() -> ServiceView {
        serde_json::from_value(serde_json::json!({
            "id": 1, "name": "web", "team": "shop", "team_id": 1, "replicas": 2,
            "revision": 3, "spec": {"image": "demo:v3"}, "proxy": {},
            "created_at_ms": 0, "updated_at_ms": 0, "phase": "progressing",
            "rollout": {"id": 4, "service": "web", "from_revision": 2, "to_revision": 3,
                "kind": "deploy", "state": "running", "reason": "", "author": "ann",
                "started_at_ms": 0, "updated_at_ms": 0, "finished_at_ms": null,
                "wanted": 2, "new_ready": 1, "old_remaining": 1, "phase": "replacing"},
            "running": 2, "healthy": 1, "problems": [], "last_error": null,
            "observed_at_ms": 0,
            "instances": [
                {"slot": 1, "revision": 3, "host": "h1", "container_id": "abc", "state": "running",
                 "health": "healthy", "endpoint": "127.0.0.11:3301", "restarts": 0, "last_exit": null,
                 "current": true, "note": null, "created_at_ms": 1_000},
                {"slot": 2, "revision": 2, "host": "h2", "container_id": "def", "state": "running",
                 "health": "starting", "endpoint": null, "restarts": 1,
                 "last_exit": "exited with code 137", "current": false, "note": null,
                 "created_at_ms": 0}
            ]
        }))
        .unwrap()
    }

    #[test]
    fn services_table() {
        assert_eq!(
            services(&[service()]),
            "NAME  TEAM  READY  STATUS       REVISION  IMAGE    ROLLOUT\n\
             web   shop  1/2    progressing  3         demo:v3  2 → 3 running\n"
        );
    }

    #[test]
    fn replicas_table() {
        assert_eq!(
            replicas(&service(), 61_000),
            "REPLICA  REVISION  HOST  STATE    HEALTH    ENDPOINT         RESTARTS  AGE  NOTE\n\
             1        3         h1    running  healthy   127.0.0.11:3301  0         1m\n\
             2        2 (old)   h2    running  starting  -                1         -    last exited with code 137\n"
        );
    }

    #[test]
    fn a_text_sparkline_scales_to_the_highest_and_leaves_gaps() {
        assert_eq!(spark(&[Some(0.0), Some(7.0), None, Some(3.5)]), "▁█ ▅");
        assert_eq!(spark(&[Some(0.0), Some(0.0)]), "▁▁");
        assert_eq!(spark(&[]), "");
        // 360 steps fit in 30 characters, each the highest of its 12.
        let long: Vec<Option<f64>> = (0..360).map(|i| Some(f64::from(i))).collect();
        let s = spark(&long);
        assert_eq!(s.chars().count(), 30);
        assert!(s.ends_with('█'), "{s}");
    }
}

//! The proxy's own cost, against nginx: three fast keep-alive backends (nginx
//! serving a small file on 127.0.0.1), then wrk (Debian's) against each backend
//! directly, through nginx configured with Berth's exported configuration for
//! those backends, and through Berth's proxy (the same server code as the
//! `berth` binary, given the same table). Prints requests/s and p99 latency, the
//! median of three runs each. `cargo bench -p server --bench proxy`.

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use domain::wire::Balance;
use server::proxy::table::{Backend, HostMatch, RouteInput};
use server::proxy::{Proxy, Settings};

const SECONDS: u32 = 8;
const RUNS: usize = 3;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// nginx with `http` as its http block's body; stopped when dropped.
struct Nginx {
    child: Child,
    dir: std::path::PathBuf,
}

impl Nginx {
    fn start(name: &str, workers: &str, http: &str, port: u16) -> Nginx {
        let dir = std::env::temp_dir().join(format!("berth-bench-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let d = dir.display();
        std::fs::write(dir.join("healthz"), "ok\n").unwrap();
        std::fs::write(
            dir.join("nginx.conf"),
            format!(
                "daemon off; worker_processes {workers}; pid {d}/nginx.pid; error_log {d}/error.log error;\n\
                 events {{ worker_connections 4096; }}\n\
                 http {{ access_log off; client_body_temp_path {d}/b; proxy_temp_path {d}/p; fastcgi_temp_path {d}/f;\n\
                 uwsgi_temp_path {d}/u; scgi_temp_path {d}/s; keepalive_requests 100000;\n{http}\n}}\n"
            ),
        )
        .unwrap();
        let child = Command::new("nginx")
            .args(["-c", &format!("{d}/nginx.conf"), "-p", &format!("{d}/")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("Debian's nginx (scripts/deps installs nginx-light)");
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Nginx { child, dir }
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// One wrk run: requests per second and p99 in milliseconds.
fn wrk(url: &str) -> (f64, f64) {
    let out = Command::new("wrk")
        .args([
            "-t1",
            "-c32",
            &format!("-d{SECONDS}s"),
            "--latency",
            "-H",
            "Host: web.localhost",
            url,
        ])
        .output()
        .expect("wrk (scripts/deps installs it)");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!text.contains("Non-2xx"), "{text}");
    let rps: f64 = text
        .lines()
        .find_map(|l| l.strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no Requests/sec in {text}"));
    let p99 = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("99%"))
        .map(str::trim)
        .unwrap_or_else(|| panic!("no 99% in {text}"));
    let ms = if let Some(v) = p99.strip_suffix("us") {
        v.parse::<f64>().unwrap() / 1000.0
    } else if let Some(v) = p99.strip_suffix("ms") {
        v.parse::<f64>().unwrap()
    } else {
        p99.trim_end_matches('s').parse::<f64>().unwrap() * 1000.0
    };
    (rps, ms)
}

fn median(mut xs: Vec<(f64, f64)>) -> (f64, f64) {
    xs.sort_by(|a, b| a.0.total_cmp(&b.0));
    let rps = xs[xs.len() / 2].0;
    let mut p99: Vec<f64> = xs.iter().map(|x| x.1).collect();
    p99.sort_by(f64::total_cmp);
    (rps, p99[p99.len() / 2])
}

fn main() {
    // Three backends: nginx serving /healthz, keep-alive on.
    let ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
    let servers: String = ports
        .iter()
        .map(|p| format!("server {{ listen 127.0.0.1:{p}; location / {{ root DIR; }} }}\n"))
        .collect();
    let backends_dir =
        std::env::temp_dir().join(format!("berth-bench-backends-{}", std::process::id()));
    let _backends = Nginx::start(
        "backends",
        "1",
        &servers.replace("DIR", &backends_dir.display().to_string()),
        ports[0],
    );

    // The same table for Berth's proxy and, exported, for nginx.
    let routes = vec![RouteInput {
        team_id: 1,
        service_id: 1,
        service: "web".into(),
        host: HostMatch::parse(Some("web.localhost")),
        prefix: "/".into(),
        strip: false,
        balance: Balance::LeastInFlight,
        backends: ports
            .iter()
            .enumerate()
            .map(|(i, p)| Backend {
                container_id: format!("backend-{i}"),
                slot: i as u32 + 1,
                host: "bench".into(),
                authority: format!("127.0.0.1:{p}"),
            })
            .collect(),
    }];
    let rt = tokio::runtime::Runtime::new().unwrap();
    let proxy = Arc::new(Proxy::new(Settings::default()));
    proxy.update(routes);
    let berth_port = free_port();
    let token = tokio_util::sync::CancellationToken::new();
    {
        let (proxy, token) = (proxy.clone(), token.clone());
        rt.spawn(async move {
            let listener = tokio::net::TcpListener::bind(("127.0.0.1", berth_port))
                .await
                .unwrap();
            server::proxy::server::serve(proxy, listener, token)
                .await
                .unwrap();
        });
    }
    let nginx_port = free_port();
    let conf = server::proxy::export::nginx_conf(
        &proxy.table(),
        &format!("127.0.0.1:{nginx_port}"),
        |_| true,
    );
    let _nginx = Nginx::start("proxy", "auto", &conf, nginx_port);
    std::thread::sleep(Duration::from_millis(300));

    let cases = [
        (
            "direct to one backend",
            format!("http://127.0.0.1:{}/healthz", ports[0]),
        ),
        (
            "nginx (worker_processes auto)",
            format!("http://127.0.0.1:{nginx_port}/healthz"),
        ),
        (
            "Berth's proxy",
            format!("http://127.0.0.1:{berth_port}/healthz"),
        ),
    ];
    let mut results = Vec::new();
    for (name, url) in &cases {
        wrk(url); // warm up pools and caches
        let r = median((0..RUNS).map(|_| wrk(url)).collect());
        println!(
            "proxy bench: {name:32} {:>8.0} requests/s, p99 {:.2} ms",
            r.0, r.1
        );
        results.push(r);
    }
    let (n, b) = (results[1], results[2]);
    println!(
        "proxy bench: Berth's proxy is {:.2}x nginx's throughput, p99 {:+.2} ms against nginx's",
        b.0 / n.0,
        b.1 - n.1
    );
    token.cancel();
}

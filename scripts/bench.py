#!/usr/bin/env python3
"""Convergence and self-healing on one real Docker engine, Berth against Docker
Swarm on the same engine, with raw parallel `docker run` as the floor; and the
proxy against nginx in front of the same replicas, with wrk. Run by scripts/bench,
which starts the engine and a release Berth; standard library only.

Measured, each the median of several runs:
  scale 1 -> 30   time from the scale request to 30 replicas running and healthy
                  (Berth: its API says 30 ready; Swarm: 30 task containers up and
                  healthy; floor: 30 `docker run -d` at once, until each answers
                  /healthz on its published port)
  self-healing    time from `docker kill` of one replica to its replacement running
                  and healthy

  proxy           wrk (1 thread, 32 connections, 10 s) against 3 replicas: direct to
                  one replica, through nginx loaded with Berth's exported
                  configuration, through Berth's proxy: requests/s and p99

  rollout         10 replicas v1 -> v2 (and back), batches of 2, start-first, no
                  delay: time from the deploy request to 10 new replicas running and
                  healthy with no old one left, and the requests that failed while 8
                  clients loaded the service through a proxy: Berth's own, or for
                  Swarm nginx rewritten and reloaded from the healthy tasks every
                  50 ms (the docker-gen pattern: Swarm's routing mesh needs IPVS,
                  which this kernel lacks)

  tenancy         /healthz latency (p50, p99, max) alone, and while 200 clients
                  send logins with wrong passwords in parallel for 10 s, each from
                  a loopback address and for an account of its own (so that the
                  limits let each one's first five guesses reach argon2); and a
                  secret's new value
                  rolled out to the 3 replicas that use it: time from the write to 3
                  healthy replicas of the new revision with no old one left

  pools           a pool whose provider (scripts/pool-provider) starts a Docker
                  daemon on this machine: for a replica that fits no host, the time
                  from the replica's "not placed" event to the provisioning request
                  (the pool host's requested_at) and to the replica healthy on the
                  new host; and for a burst of 20 waiting replicas over 4 services
                  (each replica sets aside 30% of a host's memory: 3 per host), the
                  hosts made against the 7 needed

  volumes         a replica whose volume is of a global class (rclone's plugin on
                  test hosts 4 and 5, its data in a folder both reach): its host is
                  cut off (scripts/hosts pause); the time until the replica is healthy
                  on the other host and reads back the file it wrote, with Berth's
                  default grace (10 s)

Every request goes to 127.0.0.0/8 or the engine's unix socket.
"""

import argparse
import http.client
import json
import os
import socket
import statistics
import subprocess
import tempfile
import sys
import threading
import time
import urllib.request

IMAGE = "127.0.0.1:5000/berth-demo:v1"
IMAGE2 = "127.0.0.1:5000/berth-demo:v2"
HEALTH = "wget -q -O /dev/null http://127.0.0.1:8080/healthz || exit 1"


class UnixConnection(http.client.HTTPConnection):
    def __init__(self, path):
        super().__init__("localhost", timeout=30)
        self.unix_path = path

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(self.unix_path)
        self.sock = s


class Engine:
    """The Docker Engine API over its unix socket."""

    def __init__(self, sock):
        self.sock = sock

    def call(self, method, path, body=None):
        conn = UnixConnection(self.sock)
        conn.request(method, "/v1.41" + path, body=json.dumps(body) if body is not None else None,
                     headers={"Content-Type": "application/json"})
        r = conn.getresponse()
        data = r.read()
        conn.close()
        return r.status, (json.loads(data) if data else None)

    def containers(self, label):
        filters = json.dumps({"label": [label]})
        _, out = self.call("GET", "/containers/json?all=1&filters=" + urllib.request.quote(filters))
        return out or []


def cli(sock, *args):
    return subprocess.run(["docker", *args], env={"DOCKER_HOST": "unix://" + sock, "PATH": "/usr/bin:/bin:/usr/sbin:/sbin"},
                          check=True, capture_output=True, text=True).stdout


def http_ok(address, port, path="/healthz"):
    try:
        conn = http.client.HTTPConnection(address, port, timeout=1)
        conn.request("GET", path)
        ok = conn.getresponse().status == 200
        conn.close()
        return ok
    except OSError:
        return False


def wait(what, cond, timeout=120, every=0.02):
    started = time.monotonic()
    while True:
        if cond():
            took = time.monotonic() - started
            print(f"bench: {what}: {took:.2f} s", file=sys.stderr, flush=True)
            return took
        if time.monotonic() - started > timeout:
            raise SystemExit(f"bench: {what} did not happen within {timeout} s")
        time.sleep(every)


class Berth:
    def __init__(self, url, user, password):
        self.url = url
        self.cookie = None
        r = self.req("POST", "/api/v1/auth/login", {"username": user, "password": password})
        assert r is not None

    def req(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.url + path, data=data, method=method)
        request.add_header("Content-Type", "application/json")
        request.add_header("Origin", self.url)
        if self.cookie:
            request.add_header("Cookie", self.cookie)
        with urllib.request.urlopen(request, timeout=30) as r:
            for h in r.headers.get_all("Set-Cookie") or []:
                if h.startswith("berth_session="):
                    self.cookie = h.split(";")[0]
            text = r.read()
            return json.loads(text) if text else {}

    def ensure_team(self, name):
        if not any(t["name"] == name for t in self.req("GET", "/api/v1/teams")):
            self.req("POST", "/api/v1/teams", {"name": name})

    def req_text(self, method, path):
        request = urllib.request.Request(self.url + path, method=method)
        request.add_header("Cookie", self.cookie)
        with urllib.request.urlopen(request, timeout=30) as r:
            return r.read().decode()

    def service(self, name):
        return self.req("GET", f"/api/v1/services/{name}")["service"]

    def ready(self, name, n):
        s = self.service(name)
        return s["healthy"] == n and s["running"] == n and s["phase"] in ("running", "stopped")


def bench_berth(args, engine):
    b = Berth(args.berth, args.user, args.password)
    b.ensure_team("bench")
    b.req("POST", "/api/v1/services", {
        "name": "bench", "team": "bench", "replicas": 1,
        "spec": {"image": IMAGE, "port": 8080,
                 "health": {"kind": "http", "path": "/healthz", "interval_ms": 1000, "start_period_ms": 10000}},
    })
    wait("berth: 1 replica", lambda: b.ready("bench", 1))
    scale = []
    for _ in range(args.runs):
        started = time.monotonic()
        b.req("POST", "/api/v1/services/bench/scale", {"replicas": 30})
        wait("berth: 30 healthy", lambda: b.ready("bench", 30))
        scale.append(time.monotonic() - started)
        b.req("POST", "/api/v1/services/bench/scale", {"replicas": 1})
        wait("berth: back to 1", lambda: b.ready("bench", 1) and len(b.service("bench")["instances"]) == 1)
    b.req("POST", "/api/v1/services/bench/scale", {"replicas": 30})
    wait("berth: 30 healthy", lambda: b.ready("bench", 30))
    heal = []
    for k in range(args.kills):
        # A different replica each time: a slot that keeps failing is restarted
        # after a delay on purpose.
        victim = sorted(b.service("bench")["instances"], key=lambda i: i["slot"])[k]
        slot, old = victim["slot"], victim["container_id"]
        started = time.monotonic()
        engine.call("POST", f"/containers/{old}/kill")

        def healed():
            s = b.service("bench")
            return s["healthy"] == 30 and any(
                i["slot"] == slot and i["container_id"] != old and i["health"] == "healthy" for i in s["instances"])
        wait("berth: replica replaced", healed)
        heal.append(time.monotonic() - started)
        time.sleep(0.5)
    b.req("DELETE", "/api/v1/services/bench")
    wait("berth: bench removed", lambda: not engine.containers("berth.service=bench"))
    return scale, heal


def bench_database(args, engine, url):
    """On the Berth at `url`: GET /api/v1/services with 100 services (200 calls,
    one client), and bench_berth's scale 1 -> 30 (no kills)."""
    b = Berth(url, args.user, args.password)
    b.ensure_team("dbbench")
    for i in range(100):
        b.req("POST", "/api/v1/services", {
            "name": f"list{i}", "team": "dbbench", "replicas": 0,
            "spec": {"image": IMAGE, "port": 8080},
        })
    for _ in range(20):
        b.req("GET", "/api/v1/services")
    lists = []
    for _ in range(200):
        started = time.monotonic()
        b.req("GET", "/api/v1/services")
        lists.append((time.monotonic() - started) * 1000)
    for i in range(100):
        b.req("DELETE", f"/api/v1/services/list{i}")
    scale, _ = bench_berth(argparse.Namespace(**{**vars(args), "berth": url, "kills": 0}), engine)
    return lists, scale


def swarm_ready(engine, n, healthy, service="swbench"):
    up = [c for c in engine.containers(f"com.docker.swarm.service.name={service}") if c["State"] == "running"]
    if healthy:
        up = [c for c in up if "(healthy)" in c["Status"]]
    return len(up) == n


def bench_swarm(args, engine, tuned):
    sock = args.engine
    try:
        cli(sock, "swarm", "init", "--advertise-addr", "127.0.0.1")
    except subprocess.CalledProcessError as e:
        if "already part of a swarm" not in e.stderr:
            raise
    extra = ["--restart-delay", "0s"] if tuned else []
    cli(sock, "service", "create", "-d", "--name", "swbench", "--replicas", "1",
        "--publish", "mode=host,target=8080",
        "--health-cmd", HEALTH, "--health-interval", "1s", "--health-retries", "3",
        "--health-start-period", "10s", *extra, IMAGE)
    try:
        wait("swarm: 1 replica", lambda: swarm_ready(engine, 1, True))
        scale = []
        for _ in range(args.runs):
            started = time.monotonic()
            cli(sock, "service", "scale", "-d", "swbench=30")
            wait("swarm: 30 healthy", lambda: swarm_ready(engine, 30, True))
            scale.append(time.monotonic() - started)
            cli(sock, "service", "scale", "-d", "swbench=1")
            wait("swarm: back to 1", lambda: swarm_ready(engine, 1, True) and len(
                [c for c in engine.containers("com.docker.swarm.service.name=swbench") if c["State"] == "running"]) == 1)
        cli(sock, "service", "scale", "-d", "swbench=30")
        wait("swarm: 30 healthy", lambda: swarm_ready(engine, 30, True))
        heal = []
        for _ in range(args.kills):
            victim = next(c for c in engine.containers("com.docker.swarm.service.name=swbench") if c["State"] == "running")
            started = time.monotonic()
            engine.call("POST", f"/containers/{victim['Id']}/kill")
            wait("swarm: the kill seen", lambda: engine.call("GET", f"/containers/{victim['Id']}/json")[1]["State"]["Running"] is False)
            wait("swarm: replica replaced", lambda: swarm_ready(engine, 30, True), timeout=180)
            heal.append(time.monotonic() - started)
            time.sleep(0.5)
        return scale, heal
    finally:
        cli(sock, "service", "rm", "swbench")
        wait("swarm: removed", lambda: not [c for c in engine.containers("com.docker.swarm.service.name=swbench")
                                            if c["State"] == "running"])


def bench_floor(args, engine):
    sock = args.engine
    runs = []
    for r in range(args.runs):
        names = [f"floor-{r}-{i}" for i in range(30)]
        started = time.monotonic()
        threads = [threading.Thread(target=cli, args=(sock, "run", "-d", "--name", n, "--label", "berth-bench=floor",
                                                      "-p", f"{args.address}::8080", IMAGE)) for n in names]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        ports = []
        for c in engine.containers("berth-bench=floor"):
            for p in c.get("Ports", []):
                if p.get("PublicPort") and p.get("IP", "").count(".") == 3:
                    ports.append(p["PublicPort"])
        wait("floor: 30 answer", lambda: all(http_ok(args.address, p) for p in ports))
        runs.append(time.monotonic() - started)
        ids = [c["Id"] for c in engine.containers("berth-bench=floor")]
        subprocess.run(["docker", "rm", "-f", *ids], env={"DOCKER_HOST": "unix://" + sock, "PATH": "/usr/bin:/bin"},
                       check=True, capture_output=True)
    return runs


def wrk(url, host, seconds):
    """Requests per second and the p99 latency in ms of one wrk run."""
    out = subprocess.run(["wrk", "-t1", "-c32", f"-d{seconds}s", "--latency", "-H", f"Host: {host}", url],
                         check=True, capture_output=True, text=True).stdout
    rps = float(next(l.split()[1] for l in out.splitlines() if l.startswith("Requests/sec:")))
    p99 = next(l.split()[1] for l in out.splitlines() if l.strip().startswith("99%"))
    unit = {"us": 0.001, "ms": 1.0, "s": 1000.0}
    value = next(float(p99[:-len(u)]) * f for u, f in sorted(unit.items(), key=lambda x: -len(x[0])) if p99.endswith(u))
    errors = [l.strip() for l in out.splitlines() if "Non-2xx" in l or "Socket errors" in l]
    return rps, value, errors


def bench_proxy(args, engine):
    b = Berth(args.berth, args.user, args.password)
    b.ensure_team("bench")
    b.req("POST", "/api/v1/services", {
        "name": "web", "team": "bench", "replicas": 3,
        "spec": {"image": IMAGE, "port": 8080, "health": {"kind": "http", "path": "/healthz"}},
    })
    wait("proxy: 3 replicas", lambda: b.ready("web", 3))
    time.sleep(1)
    endpoint = sorted(i["endpoint"] for i in b.service("web")["instances"])[0]
    port = free_port()
    conf = b.req_text("GET", f"/api/v1/proxy/nginx.conf?listen=127.0.0.1:{port}")
    work = tempfile.mkdtemp(prefix="berth-nginx-")
    with open(f"{work}/berth.conf", "w") as f:
        f.write(conf)
    with open(f"{work}/nginx.conf", "w") as f:
        f.write(f"""daemon off; worker_processes 1; pid {work}/nginx.pid; error_log {work}/error.log warn;
events {{ worker_connections 1024; }}
http {{ access_log off; client_body_temp_path {work}/b; proxy_temp_path {work}/p; fastcgi_temp_path {work}/f;
  uwsgi_temp_path {work}/u; scgi_temp_path {work}/s; include {work}/berth.conf; }}
""")
    nginx = subprocess.Popen(["nginx", "-c", f"{work}/nginx.conf", "-p", f"{work}/"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait("nginx listening", lambda: listening("127.0.0.1", port), timeout=10)
        results = {}
        for name, url in [("direct to one replica", f"http://{endpoint}/healthz"),
                          ("nginx (1 worker), 3 replicas", f"http://127.0.0.1:{port}/healthz"),
                          ("Berth's proxy, 3 replicas", f"{args.proxy}/healthz")]:
            wrk(url, "web.localhost", 2)  # warm up
            results[name] = wrk(url, "web.localhost", args.seconds)
            print(f"bench: wrk {name}: {results[name][0]:.0f} requests/s, p99 {results[name][1]:.2f} ms {results[name][2]}",
                  file=sys.stderr, flush=True)
        return results
    finally:
        subprocess.run(["kill", "-TERM", str(nginx.pid)])
        nginx.wait()
        b.req("DELETE", "/api/v1/services/web")


class Load:
    """Clients that GET /healthz through a proxy in a loop until stopped; every
    answer that is not 200, and every connection error, is a failed request."""

    def __init__(self, address, port, host, clients=8):
        self.address, self.port, self.host = address, port, host
        self.ok = 0
        self.failed = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self.run, daemon=True) for _ in range(clients)]
        for t in self.threads:
            t.start()

    def run(self):
        while not self.stopping.is_set():
            try:
                conn = http.client.HTTPConnection(self.address, self.port, timeout=5)
                conn.request("GET", "/healthz", headers={"Host": self.host})
                r = conn.getresponse()
                r.read()
                conn.close()
                result = None if r.status == 200 else f"HTTP {r.status}"
            except Exception as e:  # connection errors, and answers cut short
                result = type(e).__name__
            with self.lock:
                if result is None:
                    self.ok += 1
                else:
                    self.failed.append(result)

    def stop(self):
        self.stopping.set()
        for t in self.threads:
            t.join()
        return self.ok + len(self.failed), self.failed


def running_images(engine, label):
    # Swarm pins the image by digest: image@sha256:...
    return [c["Image"].split("@")[0] for c in engine.containers(label) if c["State"] == "running"]


def bench_rollout_berth(args, engine):
    b = Berth(args.berth, args.user, args.password)
    b.ensure_team("bench")
    spec = {"image": IMAGE, "port": 8080,
            "health": {"kind": "http", "path": "/healthz", "interval_ms": 1000, "start_period_ms": 10000},
            "update": {"batch_size": 2, "order": "start-first", "delay_ms": 0, "monitor_ms": 0}}
    b.req("POST", "/api/v1/services", {"name": "roll", "team": "bench", "replicas": 10, "spec": spec})
    wait("berth: 10 replicas", lambda: b.ready("roll", 10))
    time.sleep(1)
    proxy = args.proxy.removeprefix("http://")
    address, port = proxy.rsplit(":", 1)
    runs = []
    try:
        for r in range(args.runs):
            image = IMAGE2 if r % 2 == 0 else IMAGE
            load = Load(address, int(port), "roll.localhost")
            time.sleep(1)
            started = time.monotonic()
            b.req("POST", "/api/v1/services/roll/deploy", {"spec": {**spec, "image": image}})

            def done():
                s = b.service("roll")
                return (s["healthy"] == 10 and (s.get("rollout") or {}).get("state") == "succeeded"
                        and running_images(engine, "berth.service=roll") == [image] * 10)
            wait(f"berth: rollout to {image}", done)
            took = time.monotonic() - started
            time.sleep(1)
            total, failed = load.stop()
            runs.append((took, total, failed))
    finally:
        b.req("DELETE", "/api/v1/services/roll")
        wait("berth: roll removed", lambda: not engine.containers("berth.service=roll"))
    return runs


class NginxFollower:
    """nginx in front of a Swarm service's healthy tasks, its upstream rewritten and
    reloaded whenever that set changes (checked every 50 ms)."""

    def __init__(self, engine, service, address):
        self.engine, self.service, self.address = engine, service, address
        self.port = free_port()
        self.work = tempfile.mkdtemp(prefix="berth-nginx-swarm-")
        self.backends = None
        self.write(self.healthy())
        with open(f"{self.work}/nginx.conf", "w") as f:
            f.write(f"""daemon off; worker_processes 1; pid {self.work}/nginx.pid; error_log {self.work}/error.log warn;
events {{ worker_connections 1024; }}
http {{ access_log off; client_body_temp_path {self.work}/b; proxy_temp_path {self.work}/p;
  fastcgi_temp_path {self.work}/f; uwsgi_temp_path {self.work}/u; scgi_temp_path {self.work}/s;
  include {self.work}/upstream.conf;
  server {{ listen 127.0.0.1:{self.port}; location / {{ proxy_pass http://swarm; }} }} }}
""")
        self.nginx = subprocess.Popen(["nginx", "-c", f"{self.work}/nginx.conf", "-p", f"{self.work}/"],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait("nginx (swarm) listening", lambda: listening("127.0.0.1", self.port), timeout=10)
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self.follow, daemon=True)
        self.thread.start()

    def healthy(self):
        out = []
        for c in self.engine.containers(f"com.docker.swarm.service.name={self.service}"):
            if c["State"] == "running" and "(healthy)" in c["Status"]:
                out += [p["PublicPort"] for p in c.get("Ports", []) if p.get("PublicPort")]
        return sorted(set(out))

    def write(self, ports):
        servers = "".join(f"server {self.address}:{p};" for p in ports) or "server 127.0.0.1:1 down;"
        with open(f"{self.work}/upstream.conf", "w") as f:
            f.write(f"upstream swarm {{ {servers} }}\n")
        self.backends = ports

    def follow(self):
        while not self.stopping.wait(0.05):
            ports = self.healthy()
            if ports and ports != self.backends:
                self.write(ports)
                subprocess.run(["kill", "-HUP", str(self.nginx.pid)])

    def stop(self):
        self.stopping.set()
        self.thread.join()
        subprocess.run(["kill", "-TERM", str(self.nginx.pid)])
        self.nginx.wait()


def bench_rollout_swarm(args, engine):
    sock = args.engine
    try:
        cli(sock, "swarm", "init", "--advertise-addr", "127.0.0.1")
    except subprocess.CalledProcessError as e:
        if "already part of a swarm" not in e.stderr:
            raise
    label = "com.docker.swarm.service.name=swroll"
    wait("swarm: no swroll left", lambda: not engine.containers(label))
    cli(sock, "service", "create", "-d", "--name", "swroll", "--replicas", "10",
        "--publish", "mode=host,target=8080",
        "--health-cmd", HEALTH, "--health-interval", "1s", "--health-retries", "3",
        "--health-start-period", "10s", IMAGE)
    runs = []
    front = None
    try:
        wait("swarm: 10 replicas", lambda: swarm_ready(engine, 10, True, "swroll") and len(running_images(engine, label)) == 10)
        front = NginxFollower(engine, "swroll", args.address)
        time.sleep(1)
        for r in range(args.runs):
            image = IMAGE2 if r % 2 == 0 else IMAGE
            load = Load("127.0.0.1", front.port, "swroll")
            time.sleep(1)
            started = time.monotonic()
            cli(sock, "service", "update", "-d", "--image", image, "--update-parallelism", "2",
                "--update-order", "start-first", "--update-delay", "0s", "swroll")

            def done():
                return running_images(engine, label) == [image] * 10 and swarm_ready(engine, 10, True, "swroll")
            wait(f"swarm: rollout to {image}", done, timeout=300)
            took = time.monotonic() - started
            time.sleep(1)
            total, failed = load.stop()
            runs.append((took, total, failed))
    finally:
        if front:
            front.stop()
        cli(sock, "service", "rm", "swroll")
        wait("swarm: swroll removed", lambda: not [c for c in engine.containers(label) if c["State"] == "running"])
    return runs


def rollout_line(runs):
    times = [t for t, _, _ in runs]
    total = sum(n for _, n, _ in runs)
    failed = [f for _, _, fs in runs for f in fs]
    kinds = {k: failed.count(k) for k in sorted(set(failed))}
    return statistics.median(times), f"{fmt(times)}, {len(failed)} of {total} requests failed {kinds or ''}"


def listening(address, port):
    try:
        socket.create_connection((address, port), timeout=1).close()
        return True
    except OSError:
        return False


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def login_guess(berth, source, user):
    """One login as `user` with a wrong password from `source`; its status."""
    host, port = berth.split("//", 1)[1].split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30, source_address=(source, 0))
    body = json.dumps({"username": user, "password": "not-the-password"})
    conn.request("POST", "/api/v1/auth/login", body=body, headers={"Content-Type": "application/json"})
    status = conn.getresponse().status
    conn.close()
    return status


def healthz_latencies(berth, seconds, stop=None):
    """/healthz asked every 10 ms for `seconds` (or until `stop` is set): the
    latencies in ms."""
    host, port = berth.split("//", 1)[1].split(":")
    out = []
    end = time.monotonic() + seconds
    while time.monotonic() < end and not (stop and stop.is_set()):
        started = time.monotonic()
        conn = http.client.HTTPConnection(host, int(port), timeout=30)
        conn.request("GET", "/healthz")
        conn.getresponse().read()
        conn.close()
        out.append((time.monotonic() - started) * 1000)
        time.sleep(0.01)
    return out


def quantiles(ms):
    ms = sorted(ms)
    return ms[len(ms) // 2], ms[min(len(ms) - 1, int(len(ms) * 0.99))], ms[-1]


def bench_tenancy(args):
    # Logged in first: the guesses would lock the admin's account for a minute.
    b = Berth(args.berth, args.user, args.password)
    quiet = healthz_latencies(args.berth, 5)
    stop = threading.Event()
    statuses = {}
    lock = threading.Lock()

    def guesser(i):
        # An address and an account of its own: the per-address and per-account
        # limits let each one's first five guesses reach argon2 (the most work
        # guesses can cause).
        source = f"127.0.{1 + i // 250}.{2 + i % 250}"
        while not stop.is_set():
            try:
                s = login_guess(args.berth, source, f"guess-{i}")
            except OSError as e:
                s = type(e).__name__
            with lock:
                statuses[s] = statuses.get(s, 0) + 1

    threads = [threading.Thread(target=guesser, args=(i,), daemon=True) for i in range(200)]
    for t in threads:
        t.start()
    time.sleep(0.5)
    loaded = healthz_latencies(args.berth, 10)
    stop.set()
    for t in threads:
        t.join()

    b.ensure_team("bench")
    team = next(t["id"] for t in b.req("GET", "/api/v1/teams") if t["name"] == "bench")
    b.req("PUT", f"/api/v1/teams/{team}/secrets/bench-key", {"value": "first"})
    b.req("POST", "/api/v1/services", {
        "name": "secretbench", "team": "bench", "replicas": 3,
        "spec": {"image": IMAGE, "port": 8080, "env": {"KEY": {"secret": "bench-key"}},
                 "health": {"kind": "http", "path": "/healthz", "interval_ms": 1000, "start_period_ms": 10000}},
    })
    wait("berth: 3 replicas", lambda: b.ready("secretbench", 3))
    rollouts = []
    for n in range(args.runs):
        before = b.service("secretbench")["revision"]
        started = time.monotonic()
        b.req("PUT", f"/api/v1/teams/{team}/secrets/bench-key", {"value": f"value-{n}"})

        def done():
            s = b.service("secretbench")
            return (s["revision"] == before + 1 and s["healthy"] == 3
                    and len(s["instances"]) == 3 and all(i["current"] for i in s["instances"]))
        wait("berth: secret rolled out", done)
        rollouts.append(time.monotonic() - started)
    b.req("DELETE", "/api/v1/services/secretbench")
    return quiet, loaded, statuses, rollouts


def pool_hosts(b):
    return b.req("GET", "/api/v1/pools/bench")["hosts"]


def bench_pools(args, engine):
    b = Berth(args.berth, args.user, args.password)
    b.ensure_team("bench")
    memory = b.req("GET", "/api/v1/hosts")[0]["facts"]["memory_bytes"]
    b.req("POST", "/api/v1/pools", {
        "name": "bench", "provider": {"kind": "command", "command": args.provider},
        "labels": {"pool": "bench"}, "cpu_millis": 2000, "memory_bytes": memory,
        "max_hosts": 10, "idle_secs": 10, "boot_timeout_secs": 120})
    spec = lambda share: {"image": IMAGE, "port": 8080, "resources": {"memory_bytes": int(memory * share)},
                          "placement": {"constraints": ["pool=bench"]},
                          "health": {"kind": "http", "path": "/healthz", "interval_ms": 500, "start_period_ms": 10000}}
    gone = lambda: not pool_hosts(b)
    to_request, to_healthy = [], []
    for run in range(args.runs):
        b.req("POST", "/api/v1/services", {"name": "pooled", "team": "bench", "replicas": 1, "spec": spec(0.5)})
        wait(f"pools run {run + 1}: replica healthy on a new host", lambda: b.ready("pooled", 1), timeout=180)
        healthy_ms = time.time() * 1000
        created = b.service("pooled")["created_at_ms"]
        events = b.req("GET", "/api/v1/events?kind=service&subject=pooled&limit=200")["events"]
        # This run's service only: the name's earlier runs have events too.
        waiting = min(e["at_ms"] for e in events if "not placed" in e["message"] and e["at_ms"] >= created)
        requested = pool_hosts(b)[0]["requested_at_ms"]
        to_request.append((requested - waiting) / 1000)
        to_healthy.append((healthy_ms - waiting) / 1000)
        b.req("DELETE", "/api/v1/services/pooled")
        wait(f"pools run {run + 1}: the idle host destroyed", gone, timeout=120)
    # A burst: 20 replicas over 4 services, 3 fit a host.
    seen = set()
    def all_ready():
        seen.update(h["name"] for h in pool_hosts(b))
        return all(b.ready(f"burst{i}", 5) for i in range(4))
    for i in range(4):
        b.req("POST", "/api/v1/services", {"name": f"burst{i}", "team": "bench", "replicas": 5, "spec": spec(0.3)})
    burst = wait("pools: 20 replicas healthy on new hosts", all_ready, timeout=300, every=0.2)
    for i in range(4):
        b.req("DELETE", f"/api/v1/services/burst{i}")
    wait("pools: the burst's hosts destroyed", gone, timeout=180)
    b.req("DELETE", "/api/v1/pools/bench")
    return to_request, to_healthy, len(seen), burst


def hosts_script(*args):
    return subprocess.run(["scripts/hosts", *args], check=True, capture_output=True, text=True).stdout


def bench_volumes(args):
    b = Berth(args.berth, args.user, args.password)
    b.ensure_team("bench")
    if not any(h["name"] == "h5" for h in b.req("GET", "/api/v1/hosts")):
        b.req("POST", "/api/v1/hosts", {"name": "h5", "endpoint": "unix:///run/berth-hosts/h5/docker.sock",
                                        "address": "127.0.0.15"})
    socks = {"h4": "/run/berth-hosts/h4/docker.sock", "h5": "/run/berth-hosts/h5/docker.sock"}
    wait("volumes: both hosts have rclone's driver", lambda: all(
        "rclone" in ((h.get("facts") or {}).get("volume_drivers") or [])
        for h in b.req("GET", "/api/v1/hosts")), timeout=60, every=0.2)
    b.req("POST", "/api/v1/volume-classes", {
        "name": "bench-disk", "driver": "rclone", "scope": "global", "teams": ["bench"],
        "options": {"remote": f":local:{args.shared}/{{volume}}", "allow-other": "true"}})
    b.req("POST", "/api/v1/services", {"name": "follow", "team": "bench", "replicas": 1, "spec": {
        "image": IMAGE, "port": 8080, "volumes": [{"name": "data", "path": "/data", "class": "bench-disk"}],
        "health": {"kind": "http", "path": "/healthz", "interval_ms": 500}}})
    wait("volumes: the replica healthy", lambda: b.ready("follow", 1), timeout=120)

    def replica():
        inst = [i for i in b.service("follow")["instances"] if i["health"] == "healthy" and i["state"] == "running"]
        return inst[0] if len(inst) == 1 else None

    first = replica()
    cli(socks[first["host"]], "exec", first["container_id"], "sh", "-c", "echo kept > /data/mark")
    took = []
    for run in range(args.runs):
        now = replica()
        lost, number = now["host"], now["host"][1:]
        hosts_script("pause", number)
        started = time.monotonic()

        def moved_with_data():
            r = replica()
            if not r or r["host"] == lost:
                return False
            out = cli(socks[r["host"]], "exec", r["container_id"], "cat", "/data/mark")
            return out.strip() == "kept"
        wait(f"volumes run {run + 1}: {lost} cut off -> healthy elsewhere with its data", moved_with_data,
             timeout=120, every=0.1)
        took.append(time.monotonic() - started)
        hosts_script("resume", number)
        wait(f"volumes run {run + 1}: the old copy removed from {lost}", lambda: not [
            c for c in Engine(socks[lost]).containers("berth.service=follow")], timeout=120, every=0.2)
    b.req("DELETE", "/api/v1/services/follow?volumes=delete")
    wait("volumes: the service gone", lambda: not any(
        Engine(s).containers("berth.service=follow") for s in socks.values()), timeout=60, every=0.2)
    b.req("DELETE", "/api/v1/volume-classes/bench-disk")
    return took


def stack_file(services, image, replicas=1):
    """A Berth stack file of team bench (JSON is YAML too)."""
    spec = lambda: {"image": image, "port": 8080,
                    "health": {"kind": "http", "path": "/healthz", "interval_ms": 1000, "start_period_ms": 10000},
                    "update": {"batch_size": 2, "order": "start-first"}}
    return json.dumps({"kind": "berth/stack", "team": "bench",
                       "services": {name: {"replicas": replicas, "spec": spec()} for name in services}})


def bench_stacks(args, engine):
    """The plan of a 50-service stack on 3 hosts; `berth apply --wait` of a new image
    for 10 replicas against the same rollout as the deploy form makes it."""
    b = Berth(args.berth, args.user, args.password)
    b.ensure_team("bench")
    have = {h["name"] for h in b.req("GET", "/api/v1/hosts")}
    for name, number in (("h3", 3), ("h5", 5)):
        if name not in have:
            b.req("POST", "/api/v1/hosts", {"name": name, "address": f"127.0.0.1{number}",
                                            "endpoint": f"unix:///run/berth-hosts/h{number}/docker.sock"})
    wait("stacks: 3 hosts ready", lambda: sum(h["state"] == "ready" for h in b.req("GET", "/api/v1/hosts")) >= 3,
         timeout=60, every=0.2)
    fifty = stack_file([f"svc-{i:02}" for i in range(50)], IMAGE)
    plans = []
    for _ in range(20):
        started = time.monotonic()
        plan = b.req("POST", "/api/v1/stacks/plan", {"file": fifty})
        plans.append((time.monotonic() - started) * 1000)
        assert plan["changes"] == 50 and all(s["placement"]["unplaced"] == 0 for s in plan["services"]), plan
    token = b.req("POST", "/api/v1/tokens", {"name": f"bench-{time.time_ns()}"})["token"]
    env = {**os.environ, "BERTH_URL": args.berth, "BERTH_TOKEN": token, "HOME": tempfile.mkdtemp()}
    path = os.path.join(env["HOME"], "roll.yaml")

    def apply(image):
        with open(path, "w") as f:
            f.write(stack_file(["roll"], image, replicas=10))
        started = time.monotonic()
        subprocess.run([args.berth_bin, "apply", "-f", path, "--yes", "--wait"], env=env, check=True,
                       capture_output=True)
        return time.monotonic() - started

    def done(image):
        s = b.service("roll")
        return (s["healthy"] == 10 and (s.get("rollout") or {}).get("state") == "succeeded"
                and all(i["current"] for i in s["instances"]) and s["spec"]["image"] == image)
    apply(IMAGE)
    wait("stacks: 10 replicas", lambda: b.ready("roll", 10))
    cli_runs, ui_runs = [], []
    try:
        for r in range(args.runs):
            image = IMAGE2 if r % 2 == 0 else IMAGE
            cli_runs.append(apply(image))
            assert done(image)
            back = IMAGE if image == IMAGE2 else IMAGE2
            spec = b.service("roll")["spec"]
            started = time.monotonic()
            b.req("POST", "/api/v1/services/roll/deploy", {"spec": {**spec, "image": back}})
            wait(f"stacks: the deploy form's rollout to {back}", lambda: done(back), every=0.05)
            ui_runs.append(time.monotonic() - started)
            apply(image)
    finally:
        b.req("DELETE", "/api/v1/services/roll")
        wait("stacks: roll removed", lambda: not engine.containers("berth.service=roll"))
    return plans, cli_runs, ui_runs


def wrk_latency(url, headers, seconds, clients=50):
    """Requests per second, p50 and p99 in ms, and the answers' statuses of one wrk
    run of `clients` connections."""
    cmd = ["wrk", "-t2", f"-c{clients}", f"-d{seconds}s", "--latency"]
    for h in headers:
        cmd += ["-H", h]
    out = subprocess.run(cmd + [url], check=True, capture_output=True, text=True).stdout
    unit = {"us": 0.001, "ms": 1.0, "s": 1000.0}

    def ms(text):
        return next(float(text[:-len(u)]) * f for u, f in sorted(unit.items(), key=lambda x: -len(x[0]))
                    if text.endswith(u))
    rps = float(next(l.split()[1] for l in out.splitlines() if l.startswith("Requests/sec:")))
    p50 = ms(next(l.split()[1] for l in out.splitlines() if l.strip().startswith("50%")))
    p99 = ms(next(l.split()[1] for l in out.splitlines() if l.strip().startswith("99%")))
    errors = [l.strip() for l in out.splitlines() if "Non-2xx" in l or "Socket errors" in l]
    return rps, p50, p99, errors


def bench_scale(args):
    """1,000 services listed by 50 clients at once (whole list, a page of 50, an
    unchanged list with its ETag), and the volumes view."""
    b = Berth(args.berth, args.user, args.password)
    b.ensure_team("scale")
    have = {s["name"] for s in b.req("GET", "/api/v1/services?team=scale")}
    for n in range(1, 1001):
        name = f"scale-{n:04}"
        if name not in have:
            b.req("POST", "/api/v1/services", {
                "name": name, "team": "scale", "replicas": 0,
                "spec": {"image": "127.0.0.1:5000/berth-demo:v1", "port": 8080,
                         "env": {"NAME": name}, "health": {"kind": "http", "path": "/healthz"}}})
    token = b.req("POST", "/api/v1/tokens", {"name": f"bench-{os.getpid()}", "read_only": True})["token"]
    auth = f"Authorization: Bearer {token}"
    request = urllib.request.Request(args.berth + "/api/v1/services", headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=30) as r:
        etag, size, total = r.headers["ETag"], len(r.read()), r.headers["X-Total-Count"]
    runs = {
        f"whole list ({int(total)} services, {size / 1e6:.2f} MB)": wrk_latency(
            args.berth + "/api/v1/services", [auth], args.seconds),
        "a page of 50 (?limit=50&offset=500)": wrk_latency(
            args.berth + "/api/v1/services?limit=50&offset=500", [auth], args.seconds),
        "the whole list again, If-None-Match (304)": wrk_latency(
            args.berth + "/api/v1/services", [auth, f"If-None-Match: {etag}"], args.seconds),
    }
    volumes = []
    for _ in range(20):
        started = time.monotonic()
        b.req("GET", "/api/v1/volumes")
        volumes.append((time.monotonic() - started) * 1000)
    return runs, volumes


def fmt(xs):
    return f"{statistics.median(xs):.2f} s (runs: {', '.join(f'{x:.2f}' for x in xs)})"


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--berth", required=True)
    p.add_argument("--user", default="admin")
    p.add_argument("--password", required=True)
    p.add_argument("--engine", required=True, help="the engine's unix socket path")
    p.add_argument("--address", required=True, help="where the engine publishes ports")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--kills", type=int, default=5)
    p.add_argument("--proxy", required=True, help="Berth's proxy, http://127.0.0.1:port")
    p.add_argument("--seconds", type=int, default=10, help="how long each wrk run lasts")
    p.add_argument("--only", choices=["engine", "proxy", "rollout", "tenancy", "pools", "volumes", "stacks", "database", "scale"], help="run one part only")
    p.add_argument("--berth-pg", help="a second Berth, on PostgreSQL (--only database)")
    p.add_argument("--berth-bin", default="target/release/berth", help="the berth binary, for the CLI")
    p.add_argument("--provider", help="the pool provider command (absolute path)")
    p.add_argument("--shared", default="/var/lib/berth-hosts/shared", help="the folder every test host's rclone reaches")
    args = p.parse_args()
    engine = Engine(args.engine)

    if args.only == "database":
        rows = [("SQLite", bench_database(args, engine, args.berth)),
                ("PostgreSQL", bench_database(args, engine, args.berth_pg))]
        print("results (one engine; 100 services listed, 200 calls; scale 1 -> 30 healthy):")
        for name, (lists, scale) in rows:
            p50, p99 = statistics.median(lists), sorted(lists)[int(len(lists) * 0.99)]
            print(f"  {name + ':':12} GET /api/v1/services p50 {p50:.2f} ms, p99 {p99:.2f} ms; scale-up {fmt(scale)}")
        (sl, ss), (pl, ps) = rows[0][1], rows[1][1]
        print(f"  PostgreSQL / SQLite: list p50 {statistics.median(pl) / statistics.median(sl):.2f}x, "
              f"scale-up {statistics.median(ps) / statistics.median(ss):.2f}x")
        return

    if args.only in (None, "scale"):
        runs, volumes = bench_scale(args)
        print("results (one engine; 1,000 services of 0 replicas; wrk -t2 -c50):")
        for name, (rps, p50, p99, errors) in runs.items():
            print(f"  GET /api/v1/services, {name + ':':46} {rps:7.0f} requests/s, p50 {p50:6.2f} ms, "
                  f"p99 {p99:6.2f} ms {'; '.join(errors)}")
        q = quantiles(volumes)
        print(f"  GET /api/v1/volumes (one engine, sizes measured in the background): p50 {q[0]:.2f} ms, "
              f"p99 {q[1]:.2f} ms, max {q[2]:.2f} ms ({len(volumes)} requests)")
    if args.only == "scale":
        return

    if args.only in (None, "stacks"):
        plans, cli_runs, ui_runs = bench_stacks(args, engine)
        p50, p99 = statistics.median(plans), sorted(plans)[int(len(plans) * 0.95)]
        print("results (3 hosts; 50 services of 1 replica; 10 replicas in batches of 2, start-first):")
        print(f"  plan of a 50-service stack (placement tried): median {p50:.1f} ms, p95 {p99:.1f} ms ({len(plans)} plans)")
        print(f"  berth apply --wait, a new image for 10 replicas: {fmt(cli_runs)}")
        print(f"  the same rollout from the deploy form (API):      {fmt(ui_runs)}")
    if args.only == "stacks":
        return

    if args.only in (None, "volumes"):
        took = bench_volumes(args)
        print("results (a global volume on rclone's plugin, Berth's default grace of 10 s):")
        print(f"  host cut off -> the replica healthy on another host, reading its data: {fmt(took)}")
    if args.only == "volumes":
        return

    if args.only in (None, "pools"):
        to_request, to_healthy, made, burst = bench_pools(args, engine)
        print("results (a pool whose provider starts a Docker daemon on this machine):")
        print(f"  a replica's 'not placed' -> the provisioning request: {fmt(to_request)}")
        print(f"  a replica's 'not placed' -> healthy on the new host:  {fmt(to_healthy)}")
        print(f"  a burst of 20 waiting replicas (3 fit a host): {made} hosts made for 7 needed, all 20 healthy in {burst:.2f} s")
    if args.only == "pools":
        return

    if args.only in (None, "tenancy"):
        quiet, loaded, statuses, rollouts = bench_tenancy(args)
        q, l = quantiles(quiet), quantiles(loaded)
        print("results (/healthz every 10 ms; 200 clients guessing passwords from 200 loopback addresses):")
        print(f"  /healthz alone:              p50 {q[0]:.2f} ms, p99 {q[1]:.2f} ms, max {q[2]:.2f} ms ({len(quiet)} requests)")
        print(f"  /healthz beside the guesses: p50 {l[0]:.2f} ms, p99 {l[1]:.2f} ms, max {l[2]:.2f} ms ({len(loaded)} requests)")
        print(f"  the guesses' answers: {dict(sorted(statuses.items(), key=str))}")
        print(f"  a secret's new value rolled out to 3 replicas: {fmt(rollouts)}")
    if args.only == "tenancy":
        return

    if args.only in (None, "rollout"):
        berth = bench_rollout_berth(args, engine)
        swarm = bench_rollout_swarm(args, engine)
        bt, bline = rollout_line(berth)
        st, sline = rollout_line(swarm)
        print("results (one engine, 10 replicas, batches of 2, start-first, no delay, 8 clients through a proxy):")
        print(f"  rollout, Berth (its proxy):          {bline}")
        print(f"  rollout, Swarm (nginx following it): {sline}")
        print(f"  Berth is {st / bt:.1f}x faster")
    if args.only == "rollout":
        return

    if args.only in (None, "proxy"):
        results = bench_proxy(args, engine)
        d, n, b = (results["direct to one replica"], results["nginx (1 worker), 3 replicas"],
                   results["Berth's proxy, 3 replicas"])
        print("results (wrk -t1 -c32, 3 replicas of busybox httpd on one engine, GET /healthz):")
        for name, (rps, p99, errors) in results.items():
            print(f"  {name + ':':32} {rps:8.0f} requests/s, p99 {p99:6.2f} ms {'; '.join(errors)}")
        print(f"  Berth's proxy / nginx: {b[0] / n[0]:.2f}x the throughput, p99 {b[1] - n[1]:+.2f} ms")
    if args.only == "proxy":
        return

    floor = bench_floor(args, engine)
    berth_scale, berth_heal = bench_berth(args, engine)
    swarm_scale, swarm_heal = bench_swarm(args, engine, tuned=False)
    _, swarm_heal_tuned = bench_swarm(args, engine, tuned=True)

    f, bs, ss = statistics.median(floor), statistics.median(berth_scale), statistics.median(swarm_scale)
    print("results (one engine, image busybox httpd, 30 replicas, health check on /healthz):")
    print(f"  scale 1 -> 30, floor (30 parallel docker run): {fmt(floor)}")
    print(f"  scale 1 -> 30, Berth:                          {fmt(berth_scale)}  = {bs / f:.2f}x the floor")
    print(f"  scale 1 -> 30, Swarm:                          {fmt(swarm_scale)}  = {ss / f:.2f}x the floor; Berth is {ss / bs:.1f}x faster")
    print(f"  self-healing, Berth:                           {fmt(berth_heal)}")
    print(f"  self-healing, Swarm (defaults):                {fmt(swarm_heal)}")
    print(f"  self-healing, Swarm (--restart-delay 0s):      {fmt(swarm_heal_tuned)}")


if __name__ == "__main__":
    main()

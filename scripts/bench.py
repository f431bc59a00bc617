#!/usr/bin/env python3
"""Convergence and self-healing on one real Docker engine, Berth against Docker
Swarm on the same engine, with raw parallel `docker run` as the floor. Run by
scripts/bench, which starts the engine and a release Berth; standard library only.

Measured, each the median of several runs:
  scale 1 -> 30   time from the scale request to 30 replicas running and healthy
                  (Berth: its API says 30 ready; Swarm: 30 task containers up and
                  healthy; floor: 30 `docker run -d` at once, until each answers
                  /healthz on its published port)
  self-healing    time from `docker kill` of one replica to its replacement running
                  and healthy

Every request goes to 127.0.0.1 or the engine's unix socket.
"""

import argparse
import http.client
import json
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request

IMAGE = "127.0.0.1:5000/berth-demo:v1"
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

    def service(self, name):
        return self.req("GET", f"/api/v1/services/{name}")["service"]

    def ready(self, name, n):
        s = self.service(name)
        return s["healthy"] == n and s["running"] == n and s["phase"] in ("running", "stopped")


def bench_berth(args, engine):
    b = Berth(args.berth, args.user, args.password)
    b.req("POST", "/api/v1/teams", {"name": "bench"})
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


def swarm_ready(engine, n, healthy):
    up = [c for c in engine.containers("com.docker.swarm.service.name=swbench") if c["State"] == "running"]
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
    args = p.parse_args()
    engine = Engine(args.engine)

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

"""AssumeRoleWithWebIdentity over HTTP beside a bare FastAPI endpoint served the same way, in the same run.

Run: ``.venv/bin/python -m benchmarks.web_identity [--seconds S] [--profile] [--append-doc]`` (about 45 s).

Servers (each its own process, loopback, ``uvicorn.run(app, host, port, log_level="warning", access_log=False)``
exactly as ``broker serve`` runs it — uvloop and httptools when installed, one worker):

* **broker** — ``python -m broker serve`` on a fresh SQLite ``BROKER_HOME``; an OIDC provider registered for the
  fixture IdP (``idp_fixtures.oidc``, http issuer, ``BROKER_ALLOW_HTTP_ISSUERS=1``) and a role whose trust policy
  pins ``:aud`` and ``:sub`` (the shape docs/oidc recommends for GitHub Actions). Every request is a full
  AssumeRoleWithWebIdentity: form parsing, botocore-model input validation, JWT verification (RS256, cached
  JWKS), trust evaluation by the policy engine, session credentials sealed, audit event written, XML encoded.
* **bare** — a FastAPI ``POST /`` that reads the form body and returns a fixed XML body of the same size as
  broker's answer: the floor that uvicorn + Starlette + FastAPI cost on this machine.

Load (this process, uvloop, a minimal HTTP/1.1 keep-alive client over asyncio streams so that the generator
costs less than either server; responses are checked for status 200):

1. **max** — closed loop, ``--connections`` connections each sending its next request when the previous one
   is answered, ``--seconds`` per phase after a 1 s warm-up; servers alternate (bare, broker, bare, broker)
   so machine noise hits both alike. requests/s = answers / elapsed; p50/p99 of each request's time.
2. **70 %** — open loop at a fixed rate of 70 % of the server's measured max: request *i* is due at
   ``t0 + i / rate`` whether or not earlier ones were answered; its latency runs from when it was due (so queueing
   behind a slow answer counts: no coordinated omission), over a pool of connections.

Targets (issue 5, "Done means"): broker ≥ 50 % of the bare endpoint's requests/s; broker p99 ≤ 5 ms at 70 % load.
``--profile`` then serves broker under yappi (CPU clock, all threads: the operation runs in Starlette's thread
pool) for a fixed number of requests and prints where the time goes (own time grouped by package, and broker's
functions by cumulative time).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import pstats
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import boto3
import httpx
import uvloop
from botocore.config import Config
from fastapi import FastAPI, Request, Response

from benchmarks._stats import percentile

ACCOUNT = "123456789012"
ROOT_KEY, ROOT_SECRET = "AKIABENCHROOTKEY0001", "benchRootSecretKey/0123456789abcdefghijkl"[:40]
ROLE = f"arn:aws:iam::{ACCOUNT}:role/bench-ci"
ROOT = Path(__file__).resolve().parents[1]


# --------------------------------------------------------------------------- servers


def bare_app(body: bytes) -> FastAPI:
    """The floor: FastAPI reading the form body and answering fixed XML."""
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)

    @app.post("/")
    async def sts(request: Request) -> Response:
        await request.body()
        return Response(body, media_type="text/xml")

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


def _serve_bare(port: int, size: int) -> None:
    import uvicorn

    body = b"<AssumeRoleWithWebIdentityResponse>" + b"x" * max(0, size - 72) + b"</AssumeRoleWithWebIdentityResponse>"
    uvicorn.run(bare_app(body), host="127.0.0.1", port=port, log_level="warning", access_log=False)


def _serve_broker_profiled(port: int, out: str) -> None:
    """broker's app under yappi (CPU clock, every thread: the operation runs in Starlette's thread pool, which
    cProfile would not see), served as ``broker serve`` serves it; the home is already initialised."""
    import uvicorn
    import yappi  # type: ignore[import-untyped]

    from broker.api.app import create_app
    from broker.config import Settings

    app = create_app(Settings())
    yappi.set_clock_type("cpu")
    yappi.start()
    try:  # uvicorn re-raises the SIGINT it stopped on once it has shut down
        uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
    except KeyboardInterrupt:
        pass
    finally:
        yappi.stop()
        yappi.get_func_stats().save(out, type="pstat")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def _process(args: list[str], url: str, health: str, env: dict[str, str] | None = None,
             stop: signal.Signals = signal.SIGTERM) -> Iterator[None]:
    proc = subprocess.Popen(args, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{args} did not start")
            try:
                if httpx.get(url + health, timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        yield
    finally:
        proc.send_signal(stop)
        proc.wait(timeout=30)


def _broker_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BROKER_", "AWS_"))}
    env.update(BROKER_HOME=str(home), BROKER_ACCOUNT_ID=ACCOUNT, BROKER_ROOT_ACCESS_KEY_ID=ROOT_KEY,
               BROKER_ROOT_SECRET_ACCESS_KEY=ROOT_SECRET, BROKER_ALLOW_HTTP_ISSUERS="1")
    return env


def _configure(url: str, issuer: str) -> None:
    iam = boto3.client("iam", endpoint_url=url, region_name="us-east-1", aws_access_key_id=ROOT_KEY,
                       aws_secret_access_key=ROOT_SECRET, config=Config(retries={"max_attempts": 1}))
    prefix = issuer.split("://", 1)[1]
    iam.create_open_id_connect_provider(Url=issuer, ClientIDList=["sts.amazonaws.com"])
    trust = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Federated": f"arn:aws:iam::{ACCOUNT}:oidc-provider/{prefix}"},
        "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": {"StringEquals": {f"{prefix}:aud": "sts.amazonaws.com"},
                      "StringLike": {f"{prefix}:sub": "repo:octo-org/octo-repo:*"}}}]}
    iam.create_role(RoleName="bench-ci", AssumeRolePolicyDocument=json.dumps(trust))


def _request(host: str, form: dict[str, str]) -> bytes:
    body = urlencode(form).encode()
    head = (f"POST / HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/x-www-form-urlencoded; charset=utf-8\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode()
    return head + body


# --------------------------------------------------------------------------- load


class Conn:
    """One keep-alive HTTP/1.1 connection; ``send`` returns the status after reading the whole answer."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, port: int) -> Conn:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return cls(reader, writer)

    async def send(self, raw: bytes) -> tuple[int, int]:
        self.writer.write(raw)
        head = await self.reader.readuntil(b"\r\n\r\n")
        lowered = head.lower()
        at = lowered.find(b"\r\ncontent-length:")
        if at < 0:
            raise RuntimeError(f"no content-length in {head!r}")
        length = int(lowered[at + 17: lowered.index(b"\r\n", at + 2)])
        await self.reader.readexactly(length)
        return int(head[9:12]), length

    def close(self) -> None:
        self.writer.close()


@dataclass(frozen=True)
class Result:
    label: str
    n: int
    seconds: float
    p50_ms: float
    p99_ms: float
    errors: int

    @property
    def rps(self) -> float:
        return self.n / self.seconds


def _summary(label: str, samples: list[int], seconds: float, errors: int) -> Result:
    ordered = sorted(samples)
    return Result(label, len(ordered), seconds, percentile(ordered, 50) / 1e6, percentile(ordered, 99) / 1e6, errors)


async def closed_loop(label: str, port: int, raw: bytes, connections: int, seconds: float) -> Result:
    conns = [await Conn.open(port) for _ in range(connections)]
    samples: list[int] = []
    errors = 0
    end = time.perf_counter() + seconds

    async def worker(conn: Conn) -> None:
        nonlocal errors
        while time.perf_counter() < end:
            start = time.perf_counter_ns()
            status, _ = await conn.send(raw)
            samples.append(time.perf_counter_ns() - start)
            errors += status != 200

    began = time.perf_counter()
    await asyncio.gather(*(worker(c) for c in conns))
    elapsed = time.perf_counter() - began
    for c in conns:
        c.close()
    return _summary(label, samples, elapsed, errors)


async def open_loop(label: str, port: int, raw: bytes, rate: float, seconds: float, pool: int) -> Result:
    free: asyncio.Queue[Conn] = asyncio.Queue()
    for _ in range(pool):
        free.put_nowait(await Conn.open(port))
    samples: list[int] = []
    errors = 0
    tasks: list[asyncio.Task[None]] = []

    async def one(due_ns: int) -> None:
        nonlocal errors
        conn = await free.get()
        status, _ = await conn.send(raw)
        samples.append(time.perf_counter_ns() - due_ns)
        errors += status != 200
        free.put_nowait(conn)

    total = int(rate * seconds)
    t0 = time.perf_counter_ns() + 10_000_000
    for i in range(total):
        due = t0 + int(i * 1e9 / rate)
        delay = (due - time.perf_counter_ns()) / 1e9
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(due)))
    await asyncio.gather(*tasks)
    elapsed = (time.perf_counter_ns() - t0) / 1e9
    while not free.empty():
        free.get_nowait().close()
    return _summary(label, samples, elapsed, errors)


# --------------------------------------------------------------------------- run


@dataclass
class Setup:
    broker_port: int
    bare_port: int
    broker_raw: bytes
    bare_raw: bytes


async def measure(setup: Setup, seconds: float, connections: int, rounds: int) -> list[Result]:
    targets = {"bare": (setup.bare_port, setup.bare_raw), "broker": (setup.broker_port, setup.broker_raw)}
    for name, (port, raw) in targets.items():  # warm-up: JWKS cached, code paths hot, connections accepted
        await closed_loop(name, port, raw, connections, 1.0)
    peak: dict[str, list[Result]] = {"bare": [], "broker": []}
    for _ in range(rounds):
        for name, (port, raw) in targets.items():
            result = await closed_loop(name, port, raw, connections, seconds)
            if result.errors:
                raise RuntimeError(f"{name}: {result.errors} answers were not 200")
            peak[name].append(result)
    results: list[Result] = []
    for name in targets:
        runs = peak[name]
        n, secs = sum(r.n for r in runs), sum(r.seconds for r in runs)
        best = max(runs, key=lambda r: r.rps)
        results.append(Result(f"{name} max (closed loop, {connections} conns)", n, secs,
                              sorted(r.p50_ms for r in runs)[len(runs) // 2], best.p99_ms, 0))
    for name, (port, raw) in targets.items():
        rate = 0.7 * next(r.rps for r in results if r.label.startswith(name))
        result = await open_loop(f"{name} at 70 % ({rate:,.0f}/s open loop)", port, raw, rate, seconds,
                                 pool=4 * connections)
        if result.errors:
            raise RuntimeError(f"{name}: {result.errors} answers were not 200")
        results.append(result)
    return results


def table(results: list[Result]) -> str:
    lines = ["| run | requests | requests/s | p50 ms | p99 ms |", "|---|---:|---:|---:|---:|"]
    for r in results:
        lines.append(f"| {r.label} | {r.n:,} | {r.rps:,.0f} | {r.p50_ms:.2f} | {r.p99_ms:.2f} |")
    bare, broker = results[0], results[1]
    ratio = broker.rps / bare.rps
    lines += ["", f"broker / bare requests/s: {ratio:.0%} (target >= 50 %: {'met' if ratio >= 0.5 else 'MISSED'})",
              f"broker p99 at 70 % load: {results[3].p99_ms:.2f} ms "
              f"(target <= 5 ms: {'met' if results[3].p99_ms <= 5 else 'MISSED'})"]
    return "\n".join(lines)


def _group(module_path: str) -> str:
    path = module_path.replace("\\", "/")
    for marker in ("site-packages/", "/broker/", "/lib/python3"):
        if marker in path:
            rest = path.split(marker, 1)[1]
            if marker == "/broker/":
                parts = rest.split("/")
                return "broker/" + "/".join(parts[:2]) if len(parts) > 2 else "broker/" + parts[0]
            if marker == "/lib/python3":
                return "stdlib:" + rest.split("/", 2)[1].removesuffix(".py")
            return rest.split("/", 1)[0].removesuffix(".py")
    return "builtins" if module_path.startswith("~") else module_path


def profile_report(stats_file: str, requests: int) -> str:
    stats = pstats.Stats(stats_file)
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    groups: dict[str, float] = {}
    total = 0.0
    for (path, _line, _name), (_cc, _nc, tottime, _ct, _callers) in raw.items():
        groups[_group(path)] = groups.get(_group(path), 0.0) + tottime
        total += tottime
    lines = [f"Own CPU time by package, {requests:,} AssumeRoleWithWebIdentity requests under yappi, all threads "
             f"(µs per request; the profiler inflates call-heavy code, read the shares):", "",
             "| package / module | µs / request | share |", "|---|---:|---:|"]
    for name, secs in sorted(groups.items(), key=lambda kv: -kv[1])[:22]:
        lines.append(f"| {name} | {secs / requests * 1e6:,.0f} | {secs / total:.0%} |")
    top = sorted(raw.items(), key=lambda kv: -kv[1][3])
    lines += ["", "Cumulative time, broker functions (µs per request):", "",
              "| function | calls / request | cumulative µs / request |", "|---|---:|---:|"]
    shown = 0
    for (path, line, name), (_cc, nc, _tt, cumtime, _callers) in top:
        if "/broker/" not in path or shown >= 25:
            continue
        rel = path.split("/broker/", 1)[1]
        lines.append(f"| broker/{rel}:{line} {name} | {nc / requests:.1f} | {cumtime / requests * 1e6:,.0f} |")
        shown += 1
    return "\n".join(lines)


async def _drive(port: int, raw: bytes, requests: int, connections: int) -> None:
    conns = [await Conn.open(port) for _ in range(connections)]
    per = requests // connections

    async def worker(conn: Conn) -> None:
        for _ in range(per):
            status, _ = await conn.send(raw)
            if status != 200:
                raise RuntimeError(f"status {status}")

    await asyncio.gather(*(worker(c) for c in conns))
    for c in conns:
        c.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--seconds", type=float, default=4.0, help="per measured phase (default 4)")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--profile", action="store_true", help="then profile broker under yappi (bench extra)")
    parser.add_argument("--profile-requests", type=int, default=1000)
    parser.add_argument("--append-doc", action="store_true", help="append the output to docs/performance.md")
    parser.add_argument("--serve-bare", nargs=2, type=int, metavar=("PORT", "SIZE"), help=argparse.SUPPRESS)
    parser.add_argument("--serve-broker-profiled", nargs=2, metavar=("PORT", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_bare:
        _serve_bare(*args.serve_bare)
        return 0
    if args.serve_broker_profiled:
        _serve_broker_profiled(int(args.serve_broker_profiled[0]), args.serve_broker_profiled[1])
        return 0

    work = Path(tempfile.mkdtemp(prefix="bench-wif-"))
    py = sys.executable
    idp_port, broker_port, bare_port = _free_port(), _free_port(), _free_port()
    issuer = f"http://127.0.0.1:{idp_port}"
    broker_url = f"http://127.0.0.1:{broker_port}"
    env = _broker_env(work / "home")
    output: list[str] = []
    try:
        with _process([py, "-m", "idp_fixtures.oidc", "--port", str(idp_port)], issuer,
                      "/.well-known/openid-configuration"):
            token = httpx.post(f"{issuer}/admin/token", json={"profile": "github", "lifetime": 3600}).json()["id_token"]
            form = {"Action": "AssumeRoleWithWebIdentity", "Version": "2011-06-15", "RoleArn": ROLE,
                    "RoleSessionName": "bench", "WebIdentityToken": token, "DurationSeconds": "900"}
            with _process([py, "-m", "broker", "serve", "--host", "127.0.0.1", "--port", str(broker_port),
                           "--log-level", "warning"], broker_url, "/healthz", env):
                _configure(broker_url, issuer)
                answer = httpx.post(broker_url, data=form)
                if answer.status_code != 200:
                    raise RuntimeError(f"broker refused the benchmark request: {answer.text}")
                size = len(answer.content)
                with _process([py, "-m", "benchmarks.web_identity", "--serve-bare", str(bare_port), str(size)],
                              f"http://127.0.0.1:{bare_port}", "/healthz"):
                    setup = Setup(broker_port, bare_port, _request(f"127.0.0.1:{broker_port}", form),
                                  _request(f"127.0.0.1:{bare_port}", form))
                    results = uvloop.run(measure(setup, args.seconds, args.connections, args.rounds))
            stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
            load = os.getloadavg()[0]
            output += [f"web_identity  {stamp}  python {platform.python_version()}  {platform.machine()}  "
                       f"cpus={os.cpu_count()}  load1={load:.1f}  token={len(token)} B  answer={size} B  "
                       f"{args.seconds:g} s/phase x {args.rounds} rounds", "", table(results)]
            print("\n".join(output), flush=True)
            if args.profile:
                stats_file = str(work / "broker.prof")
                port = _free_port()
                with _process([py, "-m", "benchmarks.web_identity", "--serve-broker-profiled", str(port), stats_file],
                              f"http://127.0.0.1:{port}", "/healthz", env, stop=signal.SIGINT):
                    uvloop.run(_drive(port, _request(f"127.0.0.1:{port}", form), 300, args.connections))  # warm
                    uvloop.run(_drive(port, _request(f"127.0.0.1:{port}", form), args.profile_requests,
                                      args.connections))
                report = profile_report(stats_file, args.profile_requests + 300)
                output += ["", report]
                print("\n" + report, flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if args.append_doc:
        with (ROOT / "docs" / "performance.md").open("a", encoding="utf-8") as doc:
            doc.write("\n```\n" + "\n".join(output) + "\n```\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

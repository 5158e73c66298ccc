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

The client's cyclic garbage collector is paused during each phase (collected before and after): its full
collections stalled the load generator itself for 50-200 ms, which the open loop charged to the server.

Targets (issue 5, "Done means"): broker ≥ 50 % of the bare endpoint's requests/s; broker p99 ≤ 5 ms at 70 % load.
``--profile`` then samples the broker process with py-spy (every thread: the operation runs in Starlette's thread
pool; active samples only, so it reads as CPU) while a closed loop drives it, and prints where the time goes:
own time grouped by package, and broker's functions by inclusive time, in µs per request.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import math
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

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
PG_ADMIN_URL = os.environ.get("BROKER_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


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


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def _process(args: list[str], url: str, health: str, env: dict[str, str] | None = None
             ) -> Iterator[subprocess.Popen[bytes]]:
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
        yield proc
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _broker_env(home: Path, database_url: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BROKER_", "AWS_"))}
    env.update(BROKER_HOME=str(home), BROKER_ACCOUNT_ID=ACCOUNT, BROKER_ROOT_ACCESS_KEY_ID=ROOT_KEY,
               BROKER_ROOT_SECRET_ACCESS_KEY=ROOT_SECRET, BROKER_ALLOW_HTTP_ISSUERS="1")
    if database_url:
        env["BROKER_DATABASE_URL"] = database_url
    return env


@contextlib.contextmanager
def _postgres_schema(admin_url: str) -> Iterator[str]:
    """A fresh schema for one run (dropped afterwards), as the e2e suite makes them."""
    import sqlalchemy as sa

    schema = f"bench_{os.getpid()}_{int(time.time())}"
    admin = sa.create_engine(admin_url)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    try:
        base = admin_url.replace("postgresql+psycopg://", "postgresql://")
        yield f"{base}?options={quote(f'-csearch_path={schema}')}"
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


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


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` (all its threads), from /proc; NaN where there is no /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return math.nan
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


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
    cpu_ms: float = math.nan
    """Server CPU time per answered request (ms): user + system of the server process over the phase."""

    @property
    def rps(self) -> float:
        return self.n / self.seconds


def _summary(label: str, samples: list[int], seconds: float, errors: int, cpu: float) -> Result:
    ordered = sorted(samples)
    return Result(label, len(ordered), seconds, percentile(ordered, 50) / 1e6, percentile(ordered, 99) / 1e6, errors,
                  cpu * 1000 / max(1, len(ordered)))


@contextlib.contextmanager
def _client_gc_paused() -> Iterator[None]:
    """No cyclic garbage collection in this (load-generating) process while a phase runs.

    A full collection here stops sending and reading for 50-200 ms (about 2.8 s into a 700/s open loop on the
    development machine, every run: perf showed this process in ``gc_collect_main`` while the server idled),
    and the open loop counts the delay against every request that fell due meanwhile, so it was reported as
    the server's p99. Garbage is collected before the phase and after it instead.
    """
    gc.collect()
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


async def closed_loop(label: str, port: int, raw: bytes, connections: int, seconds: float, pid: int) -> Result:
    with _client_gc_paused():
        return await _closed_loop(label, port, raw, connections, seconds, pid)


async def _closed_loop(label: str, port: int, raw: bytes, connections: int, seconds: float, pid: int) -> Result:
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

    began, cpu = time.perf_counter(), _cpu_seconds(pid)
    await asyncio.gather(*(worker(c) for c in conns))
    elapsed, cpu = time.perf_counter() - began, _cpu_seconds(pid) - cpu
    for c in conns:
        c.close()
    return _summary(label, samples, elapsed, errors, cpu)


async def open_loop(label: str, port: int, raw: bytes, rate: float, seconds: float, pool: int, pid: int) -> Result:
    with _client_gc_paused():
        return await _open_loop(label, port, raw, rate, seconds, pool, pid)


async def _open_loop(label: str, port: int, raw: bytes, rate: float, seconds: float, pool: int, pid: int) -> Result:
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
    cpu = _cpu_seconds(pid)
    t0 = time.perf_counter_ns() + 10_000_000
    for i in range(total):
        due = t0 + int(i * 1e9 / rate)
        delay = (due - time.perf_counter_ns()) / 1e9
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(due)))
    await asyncio.gather(*tasks)
    elapsed, cpu = (time.perf_counter_ns() - t0) / 1e9, _cpu_seconds(pid) - cpu
    while not free.empty():
        free.get_nowait().close()
    return _summary(label, samples, elapsed, errors, cpu)


# --------------------------------------------------------------------------- run


@dataclass
class Setup:
    broker_port: int
    bare_port: int
    broker_raw: bytes
    bare_raw: bytes
    broker_pid: int
    bare_pid: int


async def measure(setup: Setup, seconds: float, connections: int, rounds: int) -> list[Result]:
    targets = {"bare": (setup.bare_port, setup.bare_raw, setup.bare_pid),
               "broker": (setup.broker_port, setup.broker_raw, setup.broker_pid)}
    for name, (port, raw, pid) in targets.items():  # warm-up: JWKS cached, code paths hot, connections accepted
        await closed_loop(name, port, raw, connections, 1.0, pid)
    peak: dict[str, list[Result]] = {"bare": [], "broker": []}
    for _ in range(rounds):
        for name, (port, raw, pid) in targets.items():
            result = await closed_loop(name, port, raw, connections, seconds, pid)
            if result.errors:
                raise RuntimeError(f"{name}: {result.errors} answers were not 200")
            peak[name].append(result)
    results: list[Result] = []
    for name in targets:
        runs = peak[name]
        n, secs = sum(r.n for r in runs), sum(r.seconds for r in runs)
        best = max(runs, key=lambda r: r.rps)
        results.append(Result(f"{name} max (closed loop, {connections} conns)", n, secs,
                              sorted(r.p50_ms for r in runs)[len(runs) // 2], best.p99_ms, 0,
                              sum(r.cpu_ms * r.n for r in runs) / max(1, n)))
    for name, (port, raw, pid) in targets.items():
        rate = 0.7 * next(r.rps for r in results if r.label.startswith(name))
        result = await open_loop(f"{name} at 70 % ({rate:,.0f}/s open loop)", port, raw, rate, seconds,
                                 pool=4 * connections, pid=pid)
        if result.errors:
            raise RuntimeError(f"{name}: {result.errors} answers were not 200")
        results.append(result)
    return results


def table(results: list[Result]) -> str:
    lines = ["| run | requests | requests/s | p50 ms | p99 ms | server CPU ms/req |", "|---|---:|---:|---:|---:|---:|"]
    for r in results:
        lines.append(f"| {r.label} | {r.n:,} | {r.rps:,.0f} | {r.p50_ms:.2f} | {r.p99_ms:.2f} | {r.cpu_ms:.2f} |")
    bare, broker = results[0], results[1]
    ratio = broker.rps / bare.rps
    lines += ["", f"broker / bare requests/s: {ratio:.0%} (target >= 50 %: {'met' if ratio >= 0.5 else 'MISSED'})",
              f"broker p99 at 70 % load: {results[3].p99_ms:.2f} ms "
              f"(target <= 5 ms: {'met' if results[3].p99_ms <= 5 else 'MISSED'})"]
    return "\n".join(lines)


_IDLE = frozenset({"Condition.wait", "Event.wait", "Runner.run", "Thread._wait_for_tstate_lock", "BaseSelector.select",
                   "EpollSelector.select", "Queue.get", "SimpleQueue.get"})
"""Leaf frames of a thread that waits (py-spy reports some waits as active when it cannot see the native stack)."""


def _group(path: str) -> str:
    """``broker/service/audit.py`` → ``broker/service``; ``sqlalchemy/orm/session.py`` → ``sqlalchemy``."""
    path = path.replace("\\", "/")
    for marker in ("site-packages/", "/lib/python3.11/", "/work/main/"):
        path = path.split(marker, 1)[-1]
    parts = path.split("/")
    if parts[0] == "broker" and len(parts) > 2:
        return "/".join(parts[:2])
    return parts[0].removesuffix(".py")


def profile_report(raw_file: Path, rate: int, requests: int) -> str:
    """Where broker's CPU goes, from py-spy's collapsed stacks (``--format raw``, active samples only)."""
    own: dict[str, int] = {}
    inclusive: dict[str, int] = {}
    total = 0
    for line in raw_file.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [f for f in stack.split(";") if f.endswith(")") and " (" in f]
        if not frames or frames[-1].split(" (", 1)[0] in _IDLE:
            continue
        total += count
        leaf_path = frames[-1].rsplit(" (", 1)[1].rsplit(":", 1)[0]
        own[_group(leaf_path)] = own.get(_group(leaf_path), 0) + count
        for name in {f.rsplit(":", 1)[0] for f in frames if "(broker/" in f or "/broker/" in f}:
            inclusive[name] = inclusive.get(name, 0) + count
    per_request = 1e6 / rate / max(1, requests)  # µs of CPU per sample, per request
    lines = [f"py-spy, {rate} samples/s of every thread of the broker process while it answered {requests:,} "
             f"AssumeRoleWithWebIdentity requests (closed loop); waiting threads left out: "
             f"{total * per_request:,.0f} µs per request on CPU", "",
             "Own time by package (the leaf frame):", "",
             "| package / module | µs / request | share |", "|---|---:|---:|"]
    for name, count in sorted(own.items(), key=lambda kv: -kv[1])[:20]:
        lines.append(f"| {name} | {count * per_request:,.0f} | {count / max(1, total):.0%} |")
    lines += ["", "Inclusive time of broker functions:", "", "| function | µs / request | share |", "|---|---:|---:|"]
    for name, count in sorted(inclusive.items(), key=lambda kv: -kv[1])[:30]:
        func, _, where = name.partition(" (")
        where = "broker/" + where.split("/broker/", 1)[1] if "/broker/" in where else where
        where = where.removeprefix("(")
        lines.append(f"| {func} ({where}) | {count * per_request:,.0f} | {count / max(1, total):.0%} |")
    return "\n".join(lines)


_BREAKDOWN: list[tuple[str, str, str]] = [
    # (label, module, attribute "Class.method" or "function"); patched where the caller looks the name up
    ("whole request in the app (_query)", "broker.api.app", "_query"),
    ("  parse_form", "broker.api.app", "parse_form"),
    ("  decode_input (botocore model)", "broker.api.app", "decode_input"),
    ("  Dispatcher.run_async (op on the loop + audit hand-over)", "broker.service.dispatch", "Dispatcher.run_async"),
    ("    verify_web_identity", "broker.service.web_identity", "verify_web_identity"),
    ("      parse_token (JOSE header/payload)", "broker.service.web_identity", "parse_token"),
    ("      verify_token (signature, claims)", "broker.service.web_identity", "verify_token"),
    ("        check_signature (RSA verify)", "broker.federation.oidc.verify", "check_signature"),
    ("        context_keys (claims as condition keys)", "broker.federation.oidc.verify", "context_keys"),
    ("    role lookup (_role: cached)", "broker.service.web_identity", "_role"),
    ("    compile_trust (cached)", "broker.service.authorize", "PolicyAuthorizer.compile_trust"),
    ("    trust_context", "broker.service.web_identity", "trust_context"),
    ("    evaluate_trust", "broker.service.web_identity", "evaluate_trust"),
    ("    mint (keys, seal)", "broker.credentials.mint", "mint"),
    ("    build_event (audit)", "broker.service.dispatch", "Dispatcher.audit"),
    ("    AuditWriter.write (hand-over + wait for the batch COMMIT)", "broker.service.audit_writer",
     "AuditWriter.write"),
    ("    audit sinks (_emit: JSON log line)", "broker.service.dispatch", "Dispatcher._emit"),
    ("  encode_output (XML)", "broker.api.app", "encode_output"),
    ("writer thread: AuditWriter._store (batch INSERT + COMMIT)", "broker.service.audit_writer",
     "AuditWriter._store"),
    ("general path: Dispatcher.run (thread pool; cache misses)", "broker.service.dispatch", "Dispatcher.run"),
    ("  lookup-cache counter read (SQL, <= 1/s)", "broker.store.sqlalchemy.repositories.security",
     "SecurityRepository.counters"),
]


def _timed(fn: Any, totals: dict[str, float], label: str) -> Any:
    import functools
    import inspect

    if inspect.iscoroutinefunction(fn):
        @functools.wraps(fn)
        async def run_async(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return await fn(*args, **kwargs)
            finally:
                totals[label] += time.perf_counter() - start
        return run_async

    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            totals[label] += time.perf_counter() - start
    return run


def breakdown(env: dict[str, str], form: dict[str, str], requests: int) -> str:
    """broker's app in this process (the same home and store as the server), ``requests`` sequential calls
    through httpx's ASGI transport, with perf_counter wrappers around each stage: µs per request, inclusive."""
    import importlib

    from broker.service.dispatch import Dispatcher

    os.environ.update({k: v for k, v in env.items() if k.startswith("BROKER_")})
    totals: dict[str, float] = dict.fromkeys((label for label, _, _ in _BREAKDOWN), 0.0)
    for label, module_name, attr in _BREAKDOWN:
        if attr == "Dispatcher.audit":
            continue  # an instance attribute, wrapped below
        if module_name == "broker.credentials.mint":  # called as web_identity.mint
            module_name = "broker.service.web_identity"
        owner: Any = importlib.import_module(module_name)
        name = attr
        if "." in attr:
            cls, name = attr.split(".", 1)
            owner = getattr(owner, cls)
        setattr(owner, name, _timed(getattr(owner, name), totals, label))

    from broker.api.app import create_app
    from broker.config import Settings

    app = create_app(Settings())
    dispatcher: Dispatcher = app.state.broker.dispatcher
    dispatcher.audit = _timed(dispatcher.audit, totals, "    build_event (audit)")
    fallbacks = dispatcher.fallbacks
    body = urlencode(form).encode()
    headers = {"content-type": "application/x-www-form-urlencoded; charset=utf-8"}

    async def drive(n: int, warm: int) -> float:
        async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://bench"
        ) as client:
            for i in range(warm + n):
                if i == warm:  # warm: keys fetched, trust compiled, caches filled
                    for label in totals:
                        totals[label] = 0.0
                    start, cpu = time.perf_counter(), time.process_time()
                answer = await client.post("/", content=body, headers=headers)
                if answer.status_code != 200:
                    raise RuntimeError(answer.text)
            timing[:] = [time.perf_counter() - start, time.process_time() - cpu]
            return timing[0]

    timing: list[float] = []
    uvloop.run(drive(requests, 50))
    wall, cpu = timing
    lines = [f"In-process breakdown: {requests:,} sequential requests through the ASGI app (httpx ASGITransport, "
             f"no network, no uvicorn), perf_counter around each stage; {wall / requests * 1e6:,.0f} µs per request "
             f"in total, {cpu / requests * 1e6:,.0f} µs of CPU (client included); "
             f"{dispatcher.fallbacks - fallbacks} of {requests + 50} requests took the general path. Stages are "
             "inclusive and nested by indentation; sequential requests each wait for their own batch, so the "
             "hand-over line is mostly that wait:", "",
             "| stage | µs / request |", "|---|---:|"]
    for label, _, _ in _BREAKDOWN:
        depth = (len(label) - len(label.lstrip())) // 2
        lines.append(f"| {'· ' * depth}{label.strip()} | {totals[label] / requests * 1e6:,.0f} |")
    return "\n".join(lines)


def _profile(pid: int, port: int, raw: bytes, args: argparse.Namespace, work: Path) -> str:
    """Sample the running broker with py-spy while a closed loop drives it."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    out, rate = work / "broker.spy", 250
    sampler = subprocess.Popen([spy, "record", "--pid", str(pid), "--duration", str(int(args.profile_seconds)),
                                "--rate", str(rate), "--format", "raw", "--output", str(out), "--nonblocking"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.0)  # py-spy attaches
    result = uvloop.run(closed_loop("profile", port, raw, args.connections, args.profile_seconds - 1.5, pid))
    sampler.wait(timeout=60)
    if not out.exists():
        return "py-spy could not sample the broker process (is py-spy installed and ptrace allowed?)"
    if args.profile_raw:
        shutil.copyfile(out, args.profile_raw)
    return profile_report(out, rate, result.n)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--seconds", type=float, default=4.0, help="per measured phase (default 4)")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--profile", action="store_true", help="then sample broker with py-spy (bench extra)")
    parser.add_argument("--profile-seconds", type=float, default=8.0)
    parser.add_argument("--profile-raw", type=Path, help="also keep py-spy's collapsed stacks here")
    parser.add_argument("--breakdown", type=int, metavar="N", default=0,
                        help="then time N sequential requests in process, stage by stage")
    parser.add_argument("--postgres", action="store_true",
                        help="store in PostgreSQL (a fresh schema at $BROKER_TEST_PG_URL) instead of SQLite")
    parser.add_argument("--append-doc", action="store_true", help="append the output to docs/performance.md")
    parser.add_argument("--serve-bare", nargs=2, type=int, metavar=("PORT", "SIZE"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_bare:
        _serve_bare(*args.serve_bare)
        return 0

    work = Path(tempfile.mkdtemp(prefix="bench-wif-"))
    py = sys.executable
    idp_port, broker_port, bare_port = _free_port(), _free_port(), _free_port()
    issuer = f"http://127.0.0.1:{idp_port}"
    broker_url = f"http://127.0.0.1:{broker_port}"
    output: list[str] = []
    store = contextlib.ExitStack()
    try:
        database_url = store.enter_context(_postgres_schema(PG_ADMIN_URL)) if args.postgres else None
        env = _broker_env(work / "home", database_url)
        with _process([py, "-m", "idp_fixtures.oidc", "--port", str(idp_port)], issuer,
                      "/.well-known/openid-configuration"):
            token = httpx.post(f"{issuer}/admin/token", json={"profile": "github", "lifetime": 3600}).json()["id_token"]
            form = {"Action": "AssumeRoleWithWebIdentity", "Version": "2011-06-15", "RoleArn": ROLE,
                    "RoleSessionName": "bench", "WebIdentityToken": token, "DurationSeconds": "900"}
            with _process([py, "-m", "broker", "serve", "--host", "127.0.0.1", "--port", str(broker_port),
                           "--log-level", "warning"], broker_url, "/healthz", env) as broker_proc:
                _configure(broker_url, issuer)
                answer = httpx.post(broker_url, data=form)
                if answer.status_code != 200:
                    raise RuntimeError(f"broker refused the benchmark request: {answer.text}")
                size = len(answer.content)
                with _process([py, "-m", "benchmarks.web_identity", "--serve-bare", str(bare_port), str(size)],
                              f"http://127.0.0.1:{bare_port}", "/healthz") as bare_proc:
                    setup = Setup(broker_port, bare_port, _request(f"127.0.0.1:{broker_port}", form),
                                  _request(f"127.0.0.1:{bare_port}", form), broker_proc.pid, bare_proc.pid)
                    results = uvloop.run(measure(setup, args.seconds, args.connections, args.rounds))
                if args.profile:
                    report = _profile(broker_proc.pid, broker_port, setup.broker_raw, args, work)
                if args.breakdown:
                    stages = breakdown(env, form, args.breakdown)
            stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
            load = os.getloadavg()[0]
            output += [f"web_identity  {stamp}  python {platform.python_version()}  {platform.machine()}  "
                       f"cpus={os.cpu_count()}  load1={load:.1f}  store={'PostgreSQL' if args.postgres else 'SQLite'}  "
                       f"token={len(token)} B  answer={size} B  "
                       f"{args.seconds:g} s/phase x {args.rounds} rounds", "", table(results)]
            if args.profile:
                output += ["", report]
            if args.breakdown:
                output += ["", stages]
            print("\n".join(output), flush=True)
    finally:
        store.close()
        shutil.rmtree(work, ignore_errors=True)
    if args.append_doc:
        with (ROOT / "docs" / "performance.md").open("a", encoding="utf-8") as doc:
            doc.write("\n```\n" + "\n".join(output) + "\n```\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

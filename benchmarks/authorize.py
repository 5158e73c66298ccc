"""Authorization hot path: in-process µs per decision, and /v1/authorize over HTTP beside a bare endpoint.

In process (one role session, a typical role: 10 attached managed policies x 5 statements from
``policy_corpus``, 200 requests aimed at them): µs per ``PolicyDecisionPoint.authorize_sigv4`` = SigV4 parse
and verify (canonical request, string to sign, HMAC; the signing key derived once per session and scope) +
session token open (AES-GCM result cached per token; expiry and revocation checked every call) + policy
decision. Every call verifies the signature in full: there is no verified-signature cache (replay). Also
shown: the same with the ``SignedRequest`` built from raw ASGI headers (what the middleware does), the
general path broker's Query API takes (``Authenticator.authenticate`` + ``PolicyAuthorizer.decide``, which
reads the principal's policies from the store on every decision) and each stage of the PDP's one-pass path
(``broker.credentials.sigv4.fast``) alone.

Over HTTP: ``POST /v1/authorize`` (signed by a service role, describing a request signed by a client role)
against ``POST /bare`` (a FastAPI endpoint that reads the body and returns a small JSON object), each app
in its own process under the same uvicorn settings as ``broker serve`` (one worker, ``access_log=False``),
driven in the same run by the same keep-alive load generator, rounds alternating. Run::

    .venv/bin/python -m benchmarks.authorize [--quick] [--profile] [--no-http] [--strict]

Targets (issue 4): ≤ 15 µs in process; ≥ 60 % of the bare endpoint's throughput.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import hashlib
import io
import json
import os
import pstats
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from benchmarks._stats import Sampler, Timing, interleave
from benchmarks.policy_corpus import build_corpus

ACCOUNT = "123456789012"
ROOT_KEY = "AKIABENCHROOTKEY0001"
ROOT_SECRET = "benchRootSecretKey/0123456789abcdefghijk"[:40]
START = datetime(2026, 11, 28, 12, 0, 0, tzinfo=UTC)
TARGET_US = 15.0
TARGET_RATIO = 0.60


def _doc(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


# --- in process --------------------------------------------------------------------------------------


@dataclass
class InProcess:
    samplers: dict[str, Sampler[Any]]
    pdp_call: Any


def _world(tmp: Path) -> tuple[Any, Any, Any, Any, list[Any]]:
    """A store with the typical role, a session of it, and the PDP and general-path objects."""
    from broker.arn import ArnFactory
    from broker.clock import FixedClock
    from broker.credentials.envelope import Envelope
    from broker.credentials.sigv4 import SignedRequest, sign
    from broker.ids import SystemEntropy
    from broker.pdp import CachingAuthorizer, PolicyDecisionPoint
    from broker.principal import CallContext, Principal
    from broker.service.authn import Authenticator
    from broker.service.authorize import PolicyAuthorizer
    from broker.service.env import OpEnv
    from broker.service.iam import OPERATIONS as IAM
    from broker.service.keyring import KeyringService
    from broker.service.sts import sts_operations
    from broker.store.sqlalchemy.engine import make_engine
    from broker.store.sqlalchemy.models import Base
    from broker.store.sqlalchemy.store import SqlStore

    engine = make_engine(f"sqlite:///{tmp / 'bench.db'}")
    Base.metadata.create_all(engine)
    store, clock, entropy = SqlStore(engine), FixedClock(START), SystemEntropy()
    envelope, arns = Envelope(os.urandom(32), entropy), ArnFactory(account=ACCOUNT)
    keyring = KeyringService(store, envelope, clock, entropy)
    keyring.ensure()
    sts, general = sts_operations(keyring), PolicyAuthorizer(store)
    root = Principal(kind="root", arn=arns.root(), account=ACCOUNT, user_id=ACCOUNT, name="root",
                     identity_arn=arns.root())

    def run(action: str, who: Principal = root, **params: Any) -> dict[str, Any]:
        op = sts.get(action) or IAM[action]
        with store.transaction() as tx:
            env = OpEnv(tx, CallContext(request_id="b", now=clock.now(), principal=who), general, arns, entropy,
                        envelope)
            return dict(op(env, params))

    corpus = build_corpus(50, requests=200)
    run("CreateRole", RoleName="app", AssumeRolePolicyDocument=_doc(
        {"Effect": "Allow", "Principal": {"AWS": ACCOUNT}, "Action": "sts:AssumeRole"}))
    for i, document in enumerate(corpus.documents):
        arn = run("CreatePolicy", PolicyName=f"p{i}", PolicyDocument=document)["Policy"]["Arn"]
        run("AttachRolePolicy", RoleName="app", PolicyArn=arn)
    user = run("CreateUser", UserName="caller")["User"]
    run("PutUserPolicy", UserName="caller", PolicyName="a", PolicyDocument=_doc(
        {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}))
    caller = Principal(kind="user", arn=user["Arn"], account=ACCOUNT, user_id=user["UserId"], name="caller",
                       identity_arn=user["Arn"])
    creds = run("AssumeRole", caller, RoleArn=f"arn:aws:iam::{ACCOUNT}:role/app",
                RoleSessionName="bench")["Credentials"]
    body = b'{"thing":"x"}'
    base = SignedRequest.build("POST", "/things/1", "", [("Host", "svc.example"), ("Content-Type",
                                                          "application/json"), ("User-Agent", "bench/1")], body)
    request = sign(base, creds["AccessKeyId"], creds["SecretAccessKey"], "us-east-1", "example", clock.now(),
                   session_token=creds["SessionToken"])
    authn = Authenticator(store=store, envelope=envelope, arns=arns, skew_seconds=300, keyring=keyring)
    pdp = PolicyDecisionPoint(authenticator=authn, authorizer=CachingAuthorizer(store), clock=clock)
    return pdp, general, request, clock, list(corpus.requests)


def in_process(tmp: Path) -> tuple[InProcess, dict[str, Any]]:
    from broker.credentials.sigv4 import SignedRequest, parse
    from broker.credentials.sigv4.fast import parse_usual, signer, usual_signature
    from broker.credentials.sigv4.signing_key import derive_signing_key
    from broker.principal import CallContext
    from broker.service.authn import session_principal

    pdp, general, request, clock, requests = _world(tmp)
    now = clock.now()
    raw_headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in request.headers]
    authn = pdp.authenticator

    def pdp_call(r: Any) -> Any:
        return pdp.authorize_sigv4(request, r.action, r.resource, context=r.context, now=now)

    def from_scope(r: Any) -> Any:
        built = SignedRequest.build("POST", "/things/1", "",
                                    [(k.decode("latin-1"), v.decode("latin-1")) for k, v in raw_headers],
                                    request.body)
        return pdp.authorize_sigv4(built, r.action, r.resource, context=r.context, now=now)

    def general_call(r: Any) -> Any:
        auth = authn.parse(request)
        principal = authn.authenticate(request, auth, service="example", now=now)
        call = CallContext(request_id="", now=now, principal=principal, user_agent="bench/1")
        return general.decide(call, principal, r.action, r.resource, r.context)

    auth = parse(request)
    claims = authn.open_session(auth, now)
    principal = session_principal(claims, authn.arns)
    prepared = pdp.authorizer.prepare(principal)
    usual = parse_usual(request)
    assert usual is not None and pdp._usual(request, None, now) is not None  # the PDP takes its one-pass path
    mac = signer(derive_signing_key(claims.secret_access_key, usual[1], usual[2], usual[3]))
    # The stages of that path, each alone (the general path's parse + verify are the peer row's).
    stages: dict[str, Any] = {
        "  parse (one regex over the Authorization header)": lambda r: parse_usual(request),
        "  session open (cached, expiry checked)": lambda r: authn.open_token(usual[0], usual[9], now),
        "  signature (canonical request + string to sign + HMAC)": lambda r: usual_signature(
            request, usual, mac, token_opened=True),  # as the PDP calls it: the token was opened first
        "  decide (prepared principal, normalised context)": lambda r: pdp.authorizer.decide_normalized(
            prepared, principal, r.action, r.resource, r.context, now, "", "bench/1", False, "us-east-1"),
    }
    verdicts: dict[str, int] = {}
    for r in requests:
        result = pdp_call(r)
        verdicts[result.decision] = verdicts.get(result.decision, 0) + 1
        expected = general_call(r).effect
        if expected != result.decision:
            raise SystemExit(f"PDP and general path disagree on {r}: {result.decision} vs {expected}")
    samplers: dict[str, Sampler[Any]] = {
        "pdp.authorize_sigv4 (verify + session + decision)": Sampler(pdp_call, requests),
        "  + SignedRequest built from raw headers": Sampler(from_scope, requests),
        "general path (Authenticator + PolicyAuthorizer, store read)": Sampler(general_call, requests),
        **{name: Sampler(fn, requests) for name, fn in stages.items()},
    }
    return InProcess(samplers, pdp_call), verdicts


def profile(pdp_call: Any, requests: list[Any], calls: int = 20_000) -> str:
    profiler = cProfile.Profile()
    profiler.enable()
    for i in range(calls):
        pdp_call(requests[i % len(requests)])
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(18)
    return out.getvalue()


# --- over HTTP ---------------------------------------------------------------------------------------


def serve(kind: str, port: int) -> None:
    """Child process: serve broker or the bare app with ``broker serve``'s uvicorn settings."""
    import uvicorn

    if kind == "broker":
        from broker.api.app import create_app
        from broker.cli.main import _init
        from broker.config import Settings

        settings = Settings(host="127.0.0.1", port=port)
        _init(settings)
        app = create_app(settings)
    else:
        app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)

        @app.post("/bare")
        async def bare(request: Request) -> JSONResponse:
            await request.body()
            return JSONResponse({"decision": "Allow", "principal": None, "matched_statements": [],
                                 "missing_context_keys": []})

        @app.get("/healthz")
        def healthz() -> dict[str, str]:
            return {"status": "ok"}

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start(kind: str, env: dict[str, str], log: Path) -> tuple[subprocess.Popen[bytes], int]:
    import httpx

    port = _free_port()
    root = Path(__file__).resolve().parents[1]
    with log.open("wb") as fh:
        proc = subprocess.Popen([sys.executable, "-m", "benchmarks.authorize", "--serve", kind, "--port", str(port)],
                                env=env, cwd=root, stdout=fh, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{kind} server exited:\n{log.read_text()}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc, port
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    proc.kill()
    raise SystemExit(f"{kind} server did not start:\n{log.read_text()}")


def _raw(port: int, path: str, body: bytes, headers: dict[str, str]) -> bytes:
    lines = [f"POST {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", f"Content-Length: {len(body)}"]
    lines += [f"{k}: {v}" for k, v in headers.items() if k.lower() not in ("host", "content-length")]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


async def _load(port: int, payload: bytes, seconds: float, connections: int) -> tuple[int, set[int]]:
    """Keep-alive HTTP/1.1 clients sending ``payload`` back to back; completed responses and statuses."""
    done = 0
    statuses: set[int] = set()
    stop = time.perf_counter() + seconds

    async def client() -> None:
        nonlocal done
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while time.perf_counter() < stop:
                writer.write(payload)
                head = await reader.readuntil(b"\r\n\r\n")
                statuses.add(int(head[9:12]))
                length = 0
                for line in head.split(b"\r\n"):
                    if line[:15].lower() == b"content-length:":
                        length = int(line[15:])
                await reader.readexactly(length)
                done += 1
        finally:
            writer.close()

    await asyncio.gather(*(client() for _ in range(connections)))
    return done, statuses


def _authorize_payload(port: int, gateway: dict[str, Any], client: dict[str, Any]) -> bytes:
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    inner_body = b'{"thing":"x"}'
    inner = AWSRequest(method="POST", url="https://svc.example/things/1", data=inner_body)
    SigV4Auth(Credentials(client["AccessKeyId"], client["SecretAccessKey"], client["SessionToken"]), "example",
              "us-east-1").add_auth(inner)
    question = {"action": "example:GetThing", "resource": "arn:aws:example:::thing/1", "service": "example",
                "request": {"method": "POST", "path": "/things/1", "query": "",
                            "headers": [["Host", "svc.example"], *[[k, v] for k, v in inner.headers.items()]],
                            "body_sha256": hashlib.sha256(inner_body).hexdigest()},
                "source_ip": "10.0.0.1", "secure_transport": True}
    body = json.dumps(question).encode()
    url = f"http://127.0.0.1:{port}/v1/authorize"
    outer = AWSRequest(method="POST", url=url, data=body, headers={"Content-Type": "application/json"})
    SigV4Auth(Credentials(gateway["AccessKeyId"], gateway["SecretAccessKey"], gateway["SessionToken"]), "broker",
              "us-east-1").add_auth(outer)
    return _raw(port, "/v1/authorize", body, dict(outer.headers.items()))


def over_http(seconds: float, rounds: int, connections: int) -> dict[str, Any]:
    import boto3
    import httpx
    from botocore.config import Config

    home = Path(tempfile.mkdtemp(prefix="bench-authz-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BROKER_", "AWS_"))}
    env.update(BROKER_HOME=str(home), BROKER_ACCOUNT_ID=ACCOUNT, BROKER_ROOT_ACCESS_KEY_ID=ROOT_KEY,
               BROKER_ROOT_SECRET_ACCESS_KEY=ROOT_SECRET)
    broker_proc, broker_port = _start("broker", env, home / "broker.log")
    bare_proc, bare_port = _start("bare", env, home / "bare.log")
    try:
        url = f"http://127.0.0.1:{broker_port}"

        def client(service: str, key: str, secret: str, token: str | None = None) -> Any:
            return boto3.client(service, endpoint_url=url, region_name="us-east-1", aws_access_key_id=key,
                                aws_secret_access_key=secret, aws_session_token=token,
                                config=Config(retries={"max_attempts": 1}))

        iam = client("iam", ROOT_KEY, ROOT_SECRET)
        trust = _doc({"Effect": "Allow", "Principal": {"AWS": ACCOUNT}, "Action": "sts:AssumeRole"})
        iam.create_role(RoleName="gateway", AssumeRolePolicyDocument=trust)
        iam.put_role_policy(RoleName="gateway", PolicyName="ask", PolicyDocument=_doc(
            {"Effect": "Allow", "Action": "broker:Authorize", "Resource": "arn:aws:example:::thing/*"}))
        iam.create_role(RoleName="app", AssumeRolePolicyDocument=trust)
        for i, document in enumerate(build_corpus(50, requests=1).documents):
            arn = iam.create_policy(PolicyName=f"p{i}", PolicyDocument=document)["Policy"]["Arn"]
            iam.attach_role_policy(RoleName="app", PolicyArn=arn)
        iam.put_role_policy(RoleName="app", PolicyName="things", PolicyDocument=_doc(
            {"Effect": "Allow", "Action": "example:GetThing", "Resource": "arn:aws:example:::thing/*"}))
        iam.create_user(UserName="ops")
        iam.put_user_policy(UserName="ops", PolicyName="a", PolicyDocument=_doc(
            {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}))
        key = iam.create_access_key(UserName="ops")["AccessKey"]
        sts = client("sts", key["AccessKeyId"], key["SecretAccessKey"])
        creds = {name: sts.assume_role(RoleArn=f"arn:aws:iam::{ACCOUNT}:role/{name}", RoleSessionName="bench")[
            "Credentials"] for name in ("gateway", "app")}
        check = _authorize_payload(broker_port, creds["gateway"], creds["app"])
        head, _, body = check.partition(b"\r\n\r\n")
        headers = dict(line.split(": ", 1) for line in head.decode().split("\r\n")[1:])
        answer = httpx.post(url + "/v1/authorize", content=body, headers=headers, timeout=30).json()
        if answer.get("decision") != "Allow":
            raise SystemExit(f"/v1/authorize did not allow the benchmark request: {answer}")
        bare_payload = _raw(bare_port, "/bare", body, {"Content-Type": "application/json"})
        runs: dict[str, list[float]] = {"/v1/authorize": [], "/bare": []}
        statuses: dict[str, set[int]] = {"/v1/authorize": set(), "/bare": set()}
        for _ in range(rounds):
            payload = _authorize_payload(broker_port, creds["gateway"], creds["app"])  # fresh X-Amz-Date
            for name, port, data in (("/bare", bare_port, bare_payload), ("/v1/authorize", broker_port, payload)):
                asyncio.run(_load(port, data, min(1.0, seconds / 4), connections))  # warm up
                done, seen = asyncio.run(_load(port, data, seconds, connections))
                runs[name].append(done / seconds)
                statuses[name] |= seen
        return {"runs": runs, "statuses": statuses, "connections": connections, "seconds": seconds}
    finally:
        for proc in (broker_proc, bare_proc):
            proc.terminate()
            proc.wait(timeout=15)
        shutil.rmtree(home, ignore_errors=True)


# --- report ------------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.authorize")
    parser.add_argument("--quick", action="store_true", help="short budgets (CI smoke run)")
    parser.add_argument("--no-http", action="store_true", help="in-process figures only")
    parser.add_argument("--profile", action="store_true", help="cProfile of the in-process hot path")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--serve", choices=("broker", "bare"), help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.port)
        return 0
    missed: list[str] = []
    tmp = Path(tempfile.mkdtemp(prefix="bench-authz-"))
    try:
        setup, verdicts = in_process(tmp)
        budget = 2.0 if args.quick else 12.0
        timings: dict[str, Timing] = interleave(setup.samplers, rounds=4, budget_s=budget,
                                                max_samples=20_000 if args.quick else 200_000)
        print(f"in process, one role session, typical role (10 policies x 5 statements), 200 requests {verdicts}")
        print(f"{'path':64s} {'p50 µs':>8s} {'p99 µs':>8s} {'mean µs':>8s} {'n':>8s}")
        for name, timing in timings.items():
            print(f"{name:64s} {timing.p50_us:8.1f} {timing.p99_us:8.1f} {timing.mean_us:8.1f} {timing.n:8d}")
        head = timings["pdp.authorize_sigv4 (verify + session + decision)"]
        peer = timings["general path (Authenticator + PolicyAuthorizer, store read)"]
        print(f"PDP p50 {head.p50_us:.1f} µs (target ≤ {TARGET_US:.0f} µs: "
              f"{'met' if head.p50_us <= TARGET_US else 'MISSED'}); general path / PDP = "
              f"{peer.p50_us / head.p50_us:.1f}x")
        if head.p50_us > TARGET_US:
            missed.append("in-process")
        if args.profile:
            print(profile(setup.pdp_call, list(setup.samplers["pdp.authorize_sigv4 (verify + session + decision)"]
                                               .inputs)))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if not args.no_http:
        seconds, rounds = (2.0, 2) if args.quick else (6.0, 3)
        http = over_http(seconds, rounds, args.connections)
        print(f"\nover HTTP: {http['connections']} keep-alive connections, {rounds} alternating rounds of "
              f"{seconds:.0f} s, one uvicorn worker each (broker serve's settings)")
        print(f"{'endpoint':20s} {'req/s (median)':>15s} {'rounds':>28s} {'statuses':>10s}")
        medians = {}
        for name, values in http["runs"].items():
            medians[name] = statistics.median(values)
            shown = " ".join(f"{v:,.0f}" for v in values)
            print(f"{name:20s} {medians[name]:15,.0f} {shown:>28s} {sorted(http['statuses'][name])!s:>10s}")
        ratio = medians["/v1/authorize"] / medians["/bare"]
        print(f"/v1/authorize / bare = {ratio:.0%} (target ≥ {TARGET_RATIO:.0%}: "
              f"{'met' if ratio >= TARGET_RATIO else 'MISSED'})")
        if ratio < TARGET_RATIO:
            missed.append("http")
    return 1 if args.strict and missed else 0


if __name__ == "__main__":
    sys.exit(main())

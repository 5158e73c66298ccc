"""Load the AWS SigV4 test suite (tests/vectors/aws-sigv4-test-suite, provenance in its SOURCE.md)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from broker.credentials.sigv4 import SignedRequest

SUITE = Path(__file__).resolve().parents[2] / "vectors" / "aws-sigv4-test-suite"


def parse_http(text: str) -> SignedRequest:
    """A request.txt / *-signed-request.txt: request line, headers (folded lines kept), blank line, body."""
    head, _, body = text.partition("\n\n")
    lines = head.split("\n")
    request_line = lines[0]
    method, _, rest = request_line.partition(" ")
    target = rest.rsplit(" ", 1)[0]
    path, _, query = target.partition("?")
    headers: list[tuple[str, str]] = []
    for line in lines[1:]:
        if line[:1] in (" ", "\t") and headers:
            name, value = headers[-1]
            headers[-1] = (name, value + "\n" + line)
            continue
        name, _, value = line.partition(":")
        headers.append((name, value))
    return SignedRequest.build(method, path, query, headers, body.encode("utf-8"))


@dataclass(frozen=True)
class Case:
    name: str
    directory: Path
    access_key_id: str
    secret: str
    token: str | None
    region: str
    service: str
    timestamp: datetime
    normalize: bool
    expires: int
    omit_session_token: bool

    def text(self, name: str) -> str:
        return (self.directory / name).read_text(encoding="utf-8")

    def request(self, form: str) -> SignedRequest:
        return parse_http(self.text(f"{form}-signed-request.txt"))

    def unsigned(self) -> SignedRequest:
        return parse_http(self.text("request.txt"))


def load_cases() -> list[Case]:
    cases: list[Case] = []
    for directory in sorted(p for p in SUITE.iterdir() if p.is_dir()):
        context = json.loads((directory / "context.json").read_text(encoding="utf-8"))
        credentials = context["credentials"]
        cases.append(
            Case(
                name=directory.name,
                directory=directory,
                access_key_id=credentials["access_key_id"],
                secret=credentials["secret_access_key"],
                token=credentials.get("token"),
                region=context["region"],
                service=context["service"],
                timestamp=datetime.strptime(context["timestamp"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC),
                normalize=context["normalize"],
                expires=context["expiration_in_seconds"],
                omit_session_token=context.get("omit_session_token", False),
            )
        )
    return cases


CASES = load_cases()

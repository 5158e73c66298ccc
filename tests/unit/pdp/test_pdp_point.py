"""The decision point: SigV4 with sealed session tokens, decisions with reasons, failures as denials."""

from __future__ import annotations

from broker.credentials.sigv4 import SignedRequest
from broker.pdp import RequestFacts
from tests.unit.pdp.conftest import ACCOUNT, ROLE_ARN, World, doc

THING = "arn:aws:example:::thing/1"


def test_allow_with_matched_statement_and_principal(world: World) -> None:
    creds = world.assume()
    result = world.pdp.authorize_sigv4(world.signed(creds), "example:GetThing", THING)
    assert result.decision == "Allow"
    assert len(result.matched_statements) == 1
    matched = result.matched_statements[0]
    assert (matched.sid, matched.pointer, matched.effect, matched.set) == (
        "ReadThings", "/Statement/0", "Allow", "identity"
    )
    assert result.principal is not None
    assert result.principal.arn == f"arn:aws:sts::{ACCOUNT}:assumed-role/app/s1"
    body = result.to_json()
    assert body["decision"] == "Allow"
    assert body["principal"]["arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/app/s1"
    assert body["principal"]["identity_arn"] == ROLE_ARN
    assert body["principal"]["access_key_id"] == creds["AccessKeyId"]
    assert "secret" not in str(body).lower()
    assert [m["sid"] for m in body["matched_statements"]] == ["ReadThings"]
    assert body["missing_context_keys"] == []
    assert "error" not in body


def test_explicit_deny_names_the_deny_statement(world: World) -> None:
    creds = world.assume()
    result = world.pdp.authorize_sigv4(world.signed(creds), "example:GetThing", "arn:aws:example:::thing/secret")
    assert result.decision == "ExplicitDeny"
    assert [(m.sid, m.effect) for m in result.matched_statements] == [("NoSecrets", "Deny")]
    assert result.denial == (
        f"User: arn:aws:sts::{ACCOUNT}:assumed-role/app/s1 is not authorized to perform: example:GetThing on "
        "resource: arn:aws:example:::thing/secret with an explicit deny in an identity-based policy"
    )


def test_implicit_deny_reports_missing_context_keys(world: World) -> None:
    creds = world.assume()
    result = world.pdp.authorize_sigv4(world.signed(creds), "example:PutThing", THING)
    assert result.decision == "ImplicitDeny"
    assert result.missing_context_keys == ("example:color",)
    allowed = world.pdp.authorize_sigv4(world.signed(creds), "example:PutThing", THING,
                                        context={"example:color": "blue"})
    assert allowed.decision == "Allow"
    assert [m.sid for m in allowed.matched_statements] == ["TaggedWrite"]


def test_session_policy_intersects(world: World) -> None:
    creds = world.assume(Policy=doc({"Effect": "Allow", "Action": "example:GetThing", "Resource": THING}))
    assert world.pdp.authorize_sigv4(world.signed(creds), "example:GetThing", THING).decision == "Allow"
    other = world.pdp.authorize_sigv4(world.signed(creds), "example:GetThing", "arn:aws:example:::thing/2")
    assert other.decision == "ImplicitDeny"
    assert "session" in other.denial


def test_wrong_secret_is_a_denial_with_the_aws_error(world: World) -> None:
    creds = dict(world.assume())
    creds["SecretAccessKey"] = "x" * 40
    result = world.pdp.authorize_sigv4(world.signed(creds), "example:GetThing", THING)
    assert result.decision == "ImplicitDeny"
    assert result.principal is None
    assert result.error is not None and result.error.code == "SignatureDoesNotMatch"
    assert result.to_json()["error"]["Code"] == "SignatureDoesNotMatch"


def test_tampered_token_and_expired_session(world: World) -> None:
    creds = dict(world.assume(DurationSeconds=900))
    tampered = dict(creds, SessionToken=creds["SessionToken"][:-4] + "AAAA")
    bad = world.pdp.authorize_sigv4(world.signed(tampered), "example:GetThing", THING)
    assert bad.error is not None and bad.error.code == "InvalidClientTokenId"
    world.clock.advance(901)
    late = world.pdp.authorize_sigv4(world.signed(creds), "example:GetThing", THING)
    assert late.decision == "ImplicitDeny"
    assert late.error is not None and late.error.code == "ExpiredToken"


def test_unsigned_request_is_missing_authentication_token(world: World) -> None:
    request = SignedRequest.build("GET", "/things/1", "", [("Host", "svc.example")])
    result = world.pdp.authorize_sigv4(request, "example:GetThing", THING)
    assert result.error is not None and result.error.code == "MissingAuthenticationToken"


def test_expected_service_is_enforced(world: World) -> None:
    creds = world.assume()
    result = world.pdp.authorize_sigv4(world.signed(creds, service="other"), "example:GetThing", THING,
                                       service="example")
    assert result.error is not None and result.error.code == "SignatureDoesNotMatch"
    assert "correct service: 'example'" in result.error.message


def test_body_hash_stands_in_for_the_body(world: World) -> None:
    creds = world.assume()
    signed = world.signed(creds, method="POST", body=b'{"a":1}')
    import hashlib

    described = SignedRequest.build(signed.method, signed.path, signed.query, signed.headers,
                                    body_sha256=hashlib.sha256(b'{"a":1}').hexdigest())
    assert world.pdp.authorize_sigv4(described, "example:GetThing", THING).decision == "Allow"
    wrong = SignedRequest.build(signed.method, signed.path, signed.query, signed.headers,
                                body_sha256=hashlib.sha256(b"other").hexdigest())
    result = world.pdp.authorize_sigv4(wrong, "example:GetThing", THING)
    assert result.error is not None and result.error.code == "SignatureDoesNotMatch"


def test_request_facts_become_global_keys(world: World) -> None:
    world.run("PutRolePolicy", RoleName="app", PolicyName="net", PolicyDocument=doc(
        {"Sid": "Office", "Effect": "Deny", "Action": "example:*", "Resource": "*",
         "Condition": {"NotIpAddress": {"aws:SourceIp": "10.0.0.0/8"}}}))
    world.authorizer.invalidate()
    creds = world.assume()
    inside = world.pdp.authorize_sigv4(world.signed(creds), "example:GetThing", THING,
                                       facts=RequestFacts(source_ip="10.1.2.3"))
    outside = world.pdp.authorize_sigv4(world.signed(creds), "example:GetThing", THING,
                                        facts=RequestFacts(source_ip="203.0.113.9"))
    assert inside.decision == "Allow"
    assert outside.decision == "ExplicitDeny"
    assert [m.sid for m in outside.matched_statements] == ["Office"]


def test_policies_are_cached_until_invalidated(world: World) -> None:
    creds = world.assume()
    assert world.pdp.authorize_sigv4(world.signed(creds), "example:GetThing", THING).decision == "Allow"
    loads = world.authorizer.loads
    world.pdp.authorize_sigv4(world.signed(creds), "example:GetThing", THING)
    assert world.authorizer.loads == loads  # served from memory
    world.run("DeleteRolePolicy", RoleName="app", PolicyName="p")
    assert world.pdp.authorize_sigv4(world.signed(creds), "example:GetThing", THING).decision == "Allow"  # stale
    world.authorizer.invalidate()
    assert world.pdp.authorize_sigv4(world.signed(creds), "example:GetThing", THING).decision == "ImplicitDeny"
    assert world.authorizer.loads == loads + 1


def test_root_is_allowed_and_akia_users_are_decided(world: World) -> None:
    key = world.run("CreateAccessKey", UserName="bob")["AccessKey"]
    creds = {"AccessKeyId": key["AccessKeyId"], "SecretAccessKey": key["SecretAccessKey"]}
    result = world.pdp.authorize_sigv4(world.signed(creds), "example:GetThing", THING)
    assert result.decision == "ImplicitDeny"
    assert result.principal is not None and result.principal.arn == f"arn:aws:iam::{ACCOUNT}:user/bob"
    assert result.denial.endswith("because no identity-based policy allows the example:GetThing action")
    assert world.pdp.decide(world.root, "example:DeleteEverything", "*").decision == "Allow"


def test_request_time_window(world: World) -> None:
    creds = world.assume()
    signed = world.signed(creds)
    world.clock.advance(301)
    result = world.pdp.authorize_sigv4(signed, "example:GetThing", THING, now=world.clock.now())
    assert result.error is not None and result.error.code == "SignatureDoesNotMatch"
    assert result.error.message.startswith("Signature expired:")

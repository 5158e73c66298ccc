"""boto3 and the AWS CLI administer a running broker: every IAM entity family, end to end."""

from __future__ import annotations

import json
import shutil

import pytest
from botocore.exceptions import ClientError

from tests.e2e.conftest import ACCOUNT, Server, make_store, start_server, stop_server

pytestmark = pytest.mark.e2e

TRUST = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "sts:AssumeRole"}
        ],
    }
)
POLICY = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [{"Sid": "Read", "Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}],
    }
)


def _code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


def test_users_groups_and_access_keys(server: Server) -> None:
    iam = server.client()
    user = iam.create_user(UserName="alice", Path="/eng/", Tags=[{"Key": "team", "Value": "blue"}])["User"]
    assert user["Arn"] == f"arn:aws:iam::{ACCOUNT}:user/eng/alice"
    assert user["UserId"].startswith("AIDA")
    assert iam.get_user(UserName="alice")["User"]["Tags"] == [{"Key": "team", "Value": "blue"}]
    with pytest.raises(ClientError) as exc:
        iam.create_user(UserName="ALICE")
    assert _code(exc) == "EntityAlreadyExists"

    iam.create_group(GroupName="devs")
    iam.add_user_to_group(GroupName="devs", UserName="alice")
    assert [u["UserName"] for u in iam.get_group(GroupName="devs")["Users"]] == ["alice"]
    assert [g["GroupName"] for g in iam.list_groups_for_user(UserName="alice")["Groups"]] == ["devs"]

    key = iam.create_access_key(UserName="alice")["AccessKey"]
    assert key["AccessKeyId"].startswith("AKIA") and len(key["SecretAccessKey"]) == 40
    listed = iam.list_access_keys(UserName="alice")["AccessKeyMetadata"]
    assert [k["AccessKeyId"] for k in listed] == [key["AccessKeyId"]]
    assert "SecretAccessKey" not in listed[0]
    iam.update_access_key(UserName="alice", AccessKeyId=key["AccessKeyId"], Status="Inactive")
    assert iam.list_access_keys(UserName="alice")["AccessKeyMetadata"][0]["Status"] == "Inactive"

    with pytest.raises(ClientError) as exc:
        iam.delete_user(UserName="alice")
    assert _code(exc) == "DeleteConflict"
    iam.delete_access_key(UserName="alice", AccessKeyId=key["AccessKeyId"])
    iam.remove_user_from_group(GroupName="devs", UserName="alice")
    iam.delete_user(UserName="alice")
    iam.delete_group(GroupName="devs")
    with pytest.raises(ClientError) as exc:
        iam.get_user(UserName="alice")
    assert _code(exc) == "NoSuchEntity"
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_a_users_own_key_signs_requests(server: Server) -> None:
    iam = server.client()
    iam.create_user(UserName="keyuser")
    key = iam.create_access_key(UserName="keyuser")["AccessKey"]
    as_user = server.client(key=key["AccessKeyId"], secret=key["SecretAccessKey"])
    # Authenticated (the signature verified) but not authorized: the foundation admits only root.
    with pytest.raises(ClientError) as exc:
        as_user.list_roles()
    assert _code(exc) == "AccessDenied"
    assert "user/keyuser is not authorized to perform: iam:ListRoles" in exc.value.response["Error"]["Message"]
    wrong = server.client(key=key["AccessKeyId"], secret="x" * 40)
    with pytest.raises(ClientError) as exc:
        wrong.list_roles()
    assert _code(exc) == "SignatureDoesNotMatch"
    last = iam.get_access_key_last_used(AccessKeyId=key["AccessKeyId"])
    assert last["UserName"] == "keyuser"
    assert last["AccessKeyLastUsed"]["ServiceName"] == "iam"
    iam.delete_access_key(UserName="keyuser", AccessKeyId=key["AccessKeyId"])
    iam.delete_user(UserName="keyuser")


def test_roles_policies_and_boundaries(server: Server) -> None:
    iam = server.client()
    role = iam.create_role(
        RoleName="deploy",
        Path="/ci/",
        AssumeRolePolicyDocument=TRUST,
        Description="CI deploys",
        MaxSessionDuration=7200,
        Tags=[{"Key": "env", "Value": "prod"}],
    )["Role"]
    assert role["Arn"] == f"arn:aws:iam::{ACCOUNT}:role/ci/deploy" and role["RoleId"].startswith("AROA")
    got = iam.get_role(RoleName="deploy")["Role"]
    assert got["AssumeRolePolicyDocument"] == json.loads(TRUST)  # URL-encoded on the wire, decoded by botocore
    assert got["MaxSessionDuration"] == 7200

    arn = iam.create_policy(PolicyName="read", PolicyDocument=POLICY)["Policy"]["Arn"]
    iam.attach_role_policy(RoleName="deploy", PolicyArn=arn)
    iam.put_role_policy(RoleName="deploy", PolicyName="inline", PolicyDocument=POLICY)
    iam.put_role_permissions_boundary(RoleName="deploy", PermissionsBoundary=arn)
    assert iam.get_role(RoleName="deploy")["Role"]["PermissionsBoundary"]["PermissionsBoundaryArn"] == arn
    assert iam.list_attached_role_policies(RoleName="deploy")["AttachedPolicies"][0]["PolicyArn"] == arn
    assert iam.get_role_policy(RoleName="deploy", PolicyName="inline")["PolicyDocument"] == json.loads(POLICY)

    v2 = iam.create_policy_version(PolicyArn=arn, PolicyDocument=POLICY, SetAsDefault=True)["PolicyVersion"]
    assert v2["VersionId"] == "v2" and v2["IsDefaultVersion"]
    versions = iam.list_policy_versions(PolicyArn=arn)["Versions"]
    assert sorted(v["VersionId"] for v in versions) == ["v1", "v2"]

    iam.update_role(RoleName="deploy", MaxSessionDuration=3600)
    iam.update_assume_role_policy(RoleName="deploy", PolicyDocument=TRUST)
    with pytest.raises(ClientError) as exc:
        iam.delete_role(RoleName="deploy")
    assert _code(exc) == "DeleteConflict"
    with pytest.raises(ClientError) as exc:
        iam.put_role_policy(RoleName="deploy", PolicyName="bad", PolicyDocument="{not json")
    assert _code(exc) == "MalformedPolicyDocument"

    iam.delete_role_permissions_boundary(RoleName="deploy")
    iam.detach_role_policy(RoleName="deploy", PolicyArn=arn)
    iam.delete_role_policy(RoleName="deploy", PolicyName="inline")
    iam.delete_role(RoleName="deploy")
    iam.delete_policy_version(PolicyArn=arn, VersionId="v1")
    iam.delete_policy(PolicyArn=arn)
    assert iam.list_roles()["Roles"] == []


def test_pagination(server: Server) -> None:
    iam = server.client()
    for i in range(5):
        iam.create_group(GroupName=f"page-{i}")
    first = iam.list_groups(MaxItems=2, PathPrefix="/")
    assert first["IsTruncated"] and len(first["Groups"]) == 2
    names = [g["GroupName"] for g in first["Groups"]]
    marker = first["Marker"]
    while marker:
        page = iam.list_groups(MaxItems=2, Marker=marker)
        names += [g["GroupName"] for g in page["Groups"]]
        marker = page.get("Marker") if page["IsTruncated"] else None
    assert sorted(n for n in names if n.startswith("page-")) == [f"page-{i}" for i in range(5)]
    paginator = iam.get_paginator("list_groups")
    assert sum(len(p["Groups"]) for p in paginator.paginate(PaginationConfig={"PageSize": 2})) >= 5
    for i in range(5):
        iam.delete_group(GroupName=f"page-{i}")


def test_oidc_and_saml_providers(server: Server, saml_metadata: str) -> None:
    iam = server.client()
    arn = iam.create_open_id_connect_provider(
        Url="https://idp.example:8443/realms/x", ClientIDList=["sts.amazonaws.com"], ThumbprintList=["a" * 40]
    )["OpenIDConnectProviderArn"]
    assert arn == f"arn:aws:iam::{ACCOUNT}:oidc-provider/idp.example:8443/realms/x"
    iam.add_client_id_to_open_id_connect_provider(OpenIDConnectProviderArn=arn, ClientID="other")
    got = iam.get_open_id_connect_provider(OpenIDConnectProviderArn=arn)
    assert sorted(got["ClientIDList"]) == ["other", "sts.amazonaws.com"]
    assert [p["Arn"] for p in iam.list_open_id_connect_providers()["OpenIDConnectProviderList"]] == [arn]
    iam.delete_open_id_connect_provider(OpenIDConnectProviderArn=arn)

    saml_arn = iam.create_saml_provider(Name="corp", SAMLMetadataDocument=saml_metadata)["SAMLProviderArn"]
    assert saml_arn == f"arn:aws:iam::{ACCOUNT}:saml-provider/corp"
    assert "EntityDescriptor" in iam.get_saml_provider(SAMLProviderArn=saml_arn)["SAMLMetadataDocument"]
    with pytest.raises(ClientError) as exc:
        iam.create_saml_provider(Name="bad", SAMLMetadataDocument="x" * 1200)
    assert _code(exc) == "InvalidInput"
    iam.delete_saml_provider(SAMLProviderArn=saml_arn)


def test_aws_cli_round_trip(server: Server) -> None:
    out = server.aws("iam", "create-role", "--role-name", "cli-role", "--assume-role-policy-document", TRUST)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["Role"]["RoleName"] == "cli-role"
    out = server.aws("iam", "list-roles")
    assert out.returncode == 0, out.stderr
    assert "cli-role" in [r["RoleName"] for r in json.loads(out.stdout)["Roles"]]
    out = server.aws("iam", "get-role", "--role-name", "missing")
    assert out.returncode != 0 and "NoSuchEntity" in out.stderr  # CLI v1 exits 255 on service errors
    out = server.aws("iam", "list-roles", secret="y" * 40)
    assert out.returncode != 0 and "SignatureDoesNotMatch" in out.stderr
    assert server.aws("iam", "delete-role", "--role-name", "cli-role").returncode == 0


def test_unknown_action_and_unsigned_request(server: Server) -> None:
    import httpx

    r = httpx.post(server.url, data={"Action": "NoSuchThing", "Version": "2010-05-08"})
    assert r.status_code == 400 and "<Code>InvalidAction</Code>" in r.text
    r = httpx.post(server.url, data={"Action": "ListRoles", "Version": "2010-05-08"})
    assert r.status_code == 403 and "<Code>MissingAuthenticationToken</Code>" in r.text
    assert r.headers["x-amzn-RequestId"]
    r = httpx.post(
        server.url,
        content=b"Action=ListRoles&Version=2010-05-08&" + b"x" * (2 * 1024 * 1024),
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert r.status_code == 413


@pytest.mark.parametrize("store", ["sqlite", "postgresql"])
def test_restart_keeps_entities(store: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    spec = make_store(store)
    home = tmp_path_factory.mktemp(f"restart-{store}")
    try:
        srv = start_server(home, store, spec.url)
        try:
            srv.client().create_role(RoleName="durable", AssumeRolePolicyDocument=TRUST)
        finally:
            stop_server(srv)
        srv = start_server(home, store, spec.url)
        try:
            assert srv.client().get_role(RoleName="durable")["Role"]["RoleName"] == "durable"
        finally:
            stop_server(srv)
    finally:
        spec.cleanup()
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="module")
def saml_metadata() -> str:
    from tests.support.saml import idp_metadata

    return idp_metadata("https://idp.example.com/saml")


def test_aws_cli_every_entity_family(
    server: Server, saml_metadata: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """The AWS CLI (v1, botocore underneath but its own argument and output layers) on each entity family."""

    def ok(*args: str) -> dict[str, object]:
        out = server.aws(*args)
        assert out.returncode == 0, f"{args}: {out.stderr}"
        return json.loads(out.stdout) if out.stdout.strip() else {}

    ok("iam", "create-user", "--user-name", "cli-user", "--tags", "Key=team,Value=red")
    assert ok("iam", "get-user", "--user-name", "cli-user")["User"]["UserName"] == "cli-user"  # type: ignore[index]
    ok("iam", "update-user", "--user-name", "cli-user", "--new-path", "/moved/")
    users = ok("iam", "list-users", "--path-prefix", "/moved/")["Users"]
    assert [u["UserName"] for u in users] == ["cli-user"]  # type: ignore[union-attr,index]
    ok("iam", "create-group", "--group-name", "cli-group")
    ok("iam", "add-user-to-group", "--group-name", "cli-group", "--user-name", "cli-user")
    key = ok("iam", "create-access-key", "--user-name", "cli-user")["AccessKey"]
    akid = key["AccessKeyId"]  # type: ignore[index]
    ok("iam", "update-access-key", "--user-name", "cli-user", "--access-key-id", akid, "--status", "Inactive")
    ok("iam", "delete-access-key", "--user-name", "cli-user", "--access-key-id", akid)
    arn = ok("iam", "create-policy", "--policy-name", "cli-policy", "--policy-document", POLICY)["Policy"]["Arn"]  # type: ignore[index]
    ok("iam", "attach-group-policy", "--group-name", "cli-group", "--policy-arn", arn)
    ok("iam", "put-user-policy", "--user-name", "cli-user", "--policy-name", "inline", "--policy-document", POLICY)
    doc = ok("iam", "get-user-policy", "--user-name", "cli-user", "--policy-name", "inline")["PolicyDocument"]
    assert doc == json.loads(POLICY)
    ok("iam", "create-policy-version", "--policy-arn", arn, "--policy-document", POLICY, "--set-as-default")
    assert ok("iam", "get-policy", "--policy-arn", arn)["Policy"]["DefaultVersionId"] == "v2"  # type: ignore[index]
    ok("iam", "detach-group-policy", "--group-name", "cli-group", "--policy-arn", arn)
    ok("iam", "delete-user-policy", "--user-name", "cli-user", "--policy-name", "inline")
    ok("iam", "remove-user-from-group", "--group-name", "cli-group", "--user-name", "cli-user")
    ok("iam", "delete-group", "--group-name", "cli-group")
    ok("iam", "delete-user", "--user-name", "cli-user")
    ok("iam", "delete-policy-version", "--policy-arn", arn, "--version-id", "v1")
    ok("iam", "delete-policy", "--policy-arn", arn)

    oidc = ok(
        "iam",
        "create-open-id-connect-provider",
        "--url",
        "https://token.example.com",
        "--client-id-list",
        "sts.amazonaws.com",
        "--thumbprint-list",
        "b" * 40,
    )["OpenIDConnectProviderArn"]
    ok(
        "iam",
        "update-open-id-connect-provider-thumbprint",
        "--open-id-connect-provider-arn",
        oidc,
        "--thumbprint-list",
        "c" * 40,
    )
    assert ok("iam", "get-open-id-connect-provider", "--open-id-connect-provider-arn", oidc)["ThumbprintList"] == [
        "c" * 40
    ]
    ok("iam", "delete-open-id-connect-provider", "--open-id-connect-provider-arn", oidc)
    meta = tmp_path_factory.mktemp("cli") / "metadata.xml"
    meta.write_text(saml_metadata)
    saml = ok("iam", "create-saml-provider", "--name", "cli-saml", "--saml-metadata-document", f"file://{meta}")[
        "SAMLProviderArn"
    ]
    ok("iam", "update-saml-provider", "--saml-provider-arn", saml, "--saml-metadata-document", f"file://{meta}")
    assert ok("iam", "list-saml-providers")["SAMLProviderList"]
    ok("iam", "delete-saml-provider", "--saml-provider-arn", saml)

"""Virtual MFA through the running server with boto3: create (seed and QR once), enable with two
consecutive codes, GetSessionToken with a code (MFA present), replayed and wrong codes refused."""

from __future__ import annotations

import time
from typing import Any

import pyotp
import pytest
from botocore.exceptions import ClientError

from tests.e2e.conftest import ACCOUNT, Server

pytestmark = pytest.mark.e2e


def _code(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, str]:
    err = exc.value.response["Error"]
    return err["Code"], err["Message"]


def _wait_for_fresh_step() -> None:
    """Start at the beginning of a 30 s step, so two consecutive codes stay valid for the whole test."""
    remaining = 30 - time.time() % 30
    if remaining < 12:
        time.sleep(remaining + 0.5)


def test_virtual_mfa_with_boto3(server: Server) -> None:
    iam = server.client()
    iam.create_user(UserName="mfa-user")
    key = iam.create_access_key(UserName="mfa-user")["AccessKey"]
    created = iam.create_virtual_mfa_device(VirtualMFADeviceName="mfa-user-phone")["VirtualMFADevice"]
    serial = created["SerialNumber"]
    assert serial == f"arn:aws:iam::{ACCOUNT}:mfa/mfa-user-phone"
    assert created["QRCodePNG"].startswith(b"\x89PNG")
    totp = pyotp.TOTP(created["Base32StringSeed"].decode("ascii"))
    listed = iam.list_virtual_mfa_devices(AssignmentStatus="Unassigned")["VirtualMFADevices"]
    assert listed == [{"SerialNumber": serial}]

    _wait_for_fresh_step()
    now = time.time()
    with pytest.raises(ClientError) as bad:
        iam.enable_mfa_device(
            UserName="mfa-user", SerialNumber=serial, AuthenticationCode1=totp.at(now), AuthenticationCode2=totp.at(now)
        )
    assert _code(bad) == ("InvalidAuthenticationCode", "Authentication code for device is not valid.")
    iam.enable_mfa_device(
        UserName="mfa-user",
        SerialNumber=serial,
        AuthenticationCode1=totp.at(now - 30),
        AuthenticationCode2=totp.at(now),
    )
    devices = iam.list_mfa_devices(UserName="mfa-user")["MFADevices"]
    assert [(d["UserName"], d["SerialNumber"]) for d in devices] == [("mfa-user", serial)]
    with pytest.raises(ClientError) as conflict:
        iam.delete_virtual_mfa_device(SerialNumber=serial)
    assert _code(conflict)[0] == "DeleteConflict"

    sts = server.client("sts", key=key["AccessKeyId"], secret=key["SecretAccessKey"])
    with pytest.raises(ClientError) as replay:  # the enabling code cannot be used again
        sts.get_session_token(SerialNumber=serial, TokenCode=totp.at(now))
    assert _code(replay) == ("AccessDenied", "MultiFactorAuthentication failed with invalid MFA one time pass code.")
    next_code = totp.at(now + 30)
    out: dict[str, Any] = sts.get_session_token(SerialNumber=serial, TokenCode=next_code, DurationSeconds=900)
    assert out["Credentials"]["AccessKeyId"].startswith("ASIA")
    with pytest.raises(ClientError) as again:
        sts.get_session_token(SerialNumber=serial, TokenCode=next_code)
    assert _code(again)[0] == "AccessDenied"
    with pytest.raises(ClientError) as other:
        sts.get_session_token(SerialNumber=serial + "-other", TokenCode=totp.at(now + 60))
    assert _code(other)[0] == "AccessDenied"

    iam.deactivate_mfa_device(UserName="mfa-user", SerialNumber=serial)
    iam.delete_virtual_mfa_device(SerialNumber=serial)
    assert iam.list_virtual_mfa_devices()["VirtualMFADevices"] == []

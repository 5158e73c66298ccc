"""Virtual MFA devices on both engines: create (seed once, sealed), enable, list, resync, deactivate, delete,
and the STS code check with its refusals (wrong code, replay, another device, non-consecutive codes)."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa

from broker.clock import FixedClock
from broker.credentials import mfa as totp
from broker.credentials.envelope import Envelope
from broker.errors import (
    AccessDenied,
    DeleteConflict,
    EntityAlreadyExists,
    InvalidAuthenticationCode,
    InvalidInput,
    LimitExceeded,
    NoSuchEntity,
)
from broker.principal import Principal
from broker.service.iam import OPERATIONS as IAM_OPS
from broker.service.mfa import (
    MFA_INVALID_PASSCODE,
    MFA_UNKNOWN_DEVICE,
    OPERATIONS,
    verify_mfa_code,
)
from broker.store.sqlalchemy.store import SqlStore
from tests.contract.conftest import ACCOUNT, START, Caller, EnvFactory, count_rows

SERIAL = f"arn:aws:iam::{ACCOUNT}:mfa/alice-phone"


@pytest.fixture
def op(call: Caller) -> Caller:
    def run(action: str, **kw: Any) -> dict[str, Any]:
        table = OPERATIONS if action in OPERATIONS else IAM_OPS
        return call(table[action], **kw)

    return run


def _seed(created: dict[str, Any]) -> totp.Seed:
    return totp.Seed(created["VirtualMFADevice"]["Base32StringSeed"].decode("ascii"))


Codes = Callable[[int], str]


def _codes(seed: totp.Seed, clock: FixedClock) -> Codes:
    """``codes(d)``: the code of the current time step + d."""
    return lambda d: totp.code_at_step(seed, totp.time_step(clock.now()) + d)


@pytest.fixture
def device(op: Caller, clock: FixedClock) -> tuple[str, Codes]:
    op("CreateUser", UserName="alice")
    created = op("CreateVirtualMFADevice", VirtualMFADeviceName="alice-phone")
    return created["VirtualMFADevice"]["SerialNumber"], _codes(_seed(created), clock)


@pytest.fixture
def enabled(op: Caller, device: tuple[str, Codes], clock: FixedClock) -> tuple[str, Codes]:
    serial, codes = device
    op(
        "EnableMFADevice",
        UserName="alice",
        SerialNumber=serial,
        AuthenticationCode1=codes(-1),
        AuthenticationCode2=codes(0),
    )
    clock.advance(30)  # the enabling codes are spent; start from a fresh step
    return serial, codes


def _alice(store: SqlStore) -> Principal:
    with store.transaction() as tx:
        user = tx.iam.get_user("alice")
    assert user is not None
    arn = f"arn:aws:iam::{ACCOUNT}:user/alice"
    return Principal(kind="user", arn=arn, account=ACCOUNT, user_id=user.id, name="alice", identity_arn=arn)


# --- create --------------------------------------------------------------------------------------------


def test_create_returns_seed_and_qr_once_and_seals_it(op: Caller, store: SqlStore, envelope: Envelope) -> None:
    created = op("CreateVirtualMFADevice", VirtualMFADeviceName="dev", Path="/team/")["VirtualMFADevice"]
    serial = created["SerialNumber"]
    assert serial == f"arn:aws:iam::{ACCOUNT}:mfa/team/dev"
    seed = created["Base32StringSeed"].decode("ascii")
    assert len(seed) == 64 and base64.b32decode(seed)
    assert created["QRCodePNG"].startswith(b"\x89PNG")
    listed = op("ListVirtualMFADevices")["VirtualMFADevices"]
    assert listed == [{"SerialNumber": serial}]
    assert seed not in str(listed)
    with store.transaction() as tx:
        raw = bytes(tx.session.execute(sa.text("SELECT sealed_seed FROM mfa_devices")).scalar_one())
        record = tx.security.get_mfa_device(serial)
    assert seed.encode() not in raw
    assert seed not in repr(record)
    assert envelope.open(raw, aad=f"mfa-seed:{serial}".encode()).decode() == seed


def test_create_twice_is_entity_already_exists(op: Caller) -> None:
    op("CreateVirtualMFADevice", VirtualMFADeviceName="dev")
    with pytest.raises(EntityAlreadyExists) as err:
        op("CreateVirtualMFADevice", VirtualMFADeviceName="dev")
    assert err.value.message == "MFADevice entity at the same path and name already exists."


def test_create_with_tags_is_refused_and_stores_nothing(op: Caller, store: SqlStore) -> None:
    with pytest.raises(InvalidInput):
        op("CreateVirtualMFADevice", VirtualMFADeviceName="dev", Tags=[{"Key": "k", "Value": "v"}])
    assert count_rows(store, "mfa_devices") == 0


def test_create_needs_authorization(op: Caller, store: SqlStore) -> None:
    op("CreateUser", UserName="alice")
    with pytest.raises(AccessDenied) as err:
        op("CreateVirtualMFADevice", VirtualMFADeviceName="dev", principal=_alice(store))
    assert f"iam:CreateVirtualMFADevice on resource: arn:aws:iam::{ACCOUNT}:mfa/dev" in err.value.message
    assert count_rows(store, "mfa_devices") == 0


# --- enable ------------------------------------------------------------------------------------------


def test_enable_with_two_consecutive_codes(op: Caller, device: tuple[str, Codes]) -> None:
    serial, codes = device
    op(
        "EnableMFADevice",
        UserName="alice",
        SerialNumber=serial,
        AuthenticationCode1=codes(-1),
        AuthenticationCode2=codes(0),
    )
    assert op("ListMFADevices", UserName="alice")["MFADevices"] == [
        {"UserName": "alice", "SerialNumber": serial, "EnableDate": START}
    ]
    assert (
        op("ListVirtualMFADevices", AssignmentStatus="Assigned")["VirtualMFADevices"][0]["User"]["UserName"] == "alice"
    )
    assert op("ListVirtualMFADevices", AssignmentStatus="Unassigned")["VirtualMFADevices"] == []
    assert op("GetMFADevice", SerialNumber=serial, UserName="alice") == {
        "UserName": "alice",
        "SerialNumber": serial,
        "EnableDate": START,
    }


@pytest.mark.parametrize(
    ("first", "second"),
    [(-1, -1), (0, -1), (-2, 0), (5, 6), (-5, -4)],
    ids=["same-code-twice", "reversed", "not-consecutive", "future", "stale"],
)
def test_enable_refuses_non_consecutive_codes(
    op: Caller, device: tuple[str, Codes], store: SqlStore, first: int, second: int
) -> None:
    serial, codes = device
    with pytest.raises(InvalidAuthenticationCode) as err:
        op(
            "EnableMFADevice",
            UserName="alice",
            SerialNumber=serial,
            AuthenticationCode1=codes(first),
            AuthenticationCode2=codes(second),
        )
    assert (err.value.code, err.value.status, err.value.message) == (
        "InvalidAuthenticationCode",
        403,
        "Authentication code for device is not valid.",
    )
    assert op("ListMFADevices", UserName="alice")["MFADevices"] == []


def test_enable_with_codes_of_another_device(op: Caller, device: tuple[str, Codes], clock: FixedClock) -> None:
    serial, _ = device
    other = _codes(_seed(op("CreateVirtualMFADevice", VirtualMFADeviceName="other")), clock)
    with pytest.raises(InvalidAuthenticationCode):
        op(
            "EnableMFADevice",
            UserName="alice",
            SerialNumber=serial,
            AuthenticationCode1=other(-1),
            AuthenticationCode2=other(0),
        )


def test_enable_errors(op: Caller, enabled: tuple[str, Codes]) -> None:
    serial, codes = enabled
    op("CreateUser", UserName="bob")
    with pytest.raises(EntityAlreadyExists) as taken:
        op(
            "EnableMFADevice",
            UserName="bob",
            SerialNumber=serial,
            AuthenticationCode1=codes(-1),
            AuthenticationCode2=codes(0),
        )
    assert taken.value.message == "MFA Device is already in use."
    with pytest.raises(NoSuchEntity) as missing:
        op(
            "EnableMFADevice",
            UserName="bob",
            SerialNumber=SERIAL + "x",
            AuthenticationCode1="123456",
            AuthenticationCode2="234567",
        )
    assert missing.value.message == f"VirtualMFADevice with serial number {SERIAL}x doesn't exist."
    with pytest.raises(NoSuchEntity) as nouser:
        op(
            "EnableMFADevice",
            UserName="nobody",
            SerialNumber=serial,
            AuthenticationCode1="123456",
            AuthenticationCode2="234567",
        )
    assert nouser.value.message == "The user with name nobody cannot be found."


def test_enable_quota_is_eight_devices_per_user(op: Caller, clock: FixedClock) -> None:
    op("CreateUser", UserName="alice")
    for i in range(9):
        seed = _seed(op("CreateVirtualMFADevice", VirtualMFADeviceName=f"d{i}"))
        codes = _codes(seed, clock)
        params = {
            "UserName": "alice",
            "SerialNumber": f"arn:aws:iam::{ACCOUNT}:mfa/d{i}",
            "AuthenticationCode1": codes(-1),
            "AuthenticationCode2": codes(0),
        }
        if i < 8:
            op("EnableMFADevice", **params)
        else:
            with pytest.raises(LimitExceeded) as err:
                op("EnableMFADevice", **params)
            assert err.value.message == "Cannot exceed quota for MFADevicesPerUser: 8"


# --- deactivate, delete, resync ----------------------------------------------------------------------------


def test_delete_conflict_while_enabled_then_deactivate_and_delete(op: Caller, enabled: tuple[str, Codes]) -> None:
    serial, _ = enabled
    with pytest.raises(DeleteConflict) as err:
        op("DeleteVirtualMFADevice", SerialNumber=serial)
    assert err.value.message == "MFA VirtualDevice in use. Must deactivate first."
    op("DeactivateMFADevice", UserName="alice", SerialNumber=serial)
    assert op("ListMFADevices", UserName="alice")["MFADevices"] == []
    op("DeleteVirtualMFADevice", SerialNumber=serial)
    assert op("ListVirtualMFADevices")["VirtualMFADevices"] == []
    with pytest.raises(NoSuchEntity):
        op("DeleteVirtualMFADevice", SerialNumber=serial)


def test_user_with_device_cannot_be_deleted(op: Caller, enabled: tuple[str, Codes]) -> None:
    with pytest.raises(DeleteConflict) as err:
        op("DeleteUser", UserName="alice")
    assert err.value.message == "Cannot delete entity, must delete MFA device first."


def test_deactivate_device_of_another_user_is_no_such_entity(op: Caller, enabled: tuple[str, Codes]) -> None:
    serial, _ = enabled
    op("CreateUser", UserName="bob")
    with pytest.raises(NoSuchEntity):
        op("DeactivateMFADevice", UserName="bob", SerialNumber=serial)
    assert len(op("ListMFADevices", UserName="alice")["MFADevices"]) == 1


def test_reenabling_after_deactivation_cannot_replay_old_codes(
    op: Caller, device: tuple[str, Codes], clock: FixedClock
) -> None:
    serial, codes = device
    old = {"AuthenticationCode1": codes(-1), "AuthenticationCode2": codes(0)}
    op("EnableMFADevice", UserName="alice", SerialNumber=serial, **old)
    op("DeactivateMFADevice", UserName="alice", SerialNumber=serial)
    with pytest.raises(InvalidAuthenticationCode):
        op("EnableMFADevice", UserName="alice", SerialNumber=serial, **old)


def test_resync(op: Caller, enabled: tuple[str, Codes]) -> None:
    serial, codes = enabled
    op(
        "ResyncMFADevice",
        UserName="alice",
        SerialNumber=serial,
        AuthenticationCode1=codes(0),
        AuthenticationCode2=codes(1),
    )
    with pytest.raises(InvalidAuthenticationCode):  # the same codes again
        op(
            "ResyncMFADevice",
            UserName="alice",
            SerialNumber=serial,
            AuthenticationCode1=codes(0),
            AuthenticationCode2=codes(1),
        )
    with pytest.raises(InvalidAuthenticationCode):
        op(
            "ResyncMFADevice",
            UserName="alice",
            SerialNumber=serial,
            AuthenticationCode1=codes(1),
            AuthenticationCode2=codes(3),
        )


# --- STS verification --------------------------------------------------------------------------------------


@pytest.fixture
def verify(store: SqlStore, make_env: EnvFactory) -> Callable[..., Any]:
    def run(serial: str, code: str, user_id: str | None) -> Any:
        with store.transaction() as tx:
            return verify_mfa_code(make_env(tx), serial, code, user_id=user_id)

    return run


def test_verify_accepts_a_code_once(
    enabled: tuple[str, Codes], verify: Callable[..., Any], store: SqlStore, clock: FixedClock
) -> None:
    serial, codes = enabled
    alice = _alice(store)
    assert verify(serial, codes(0), alice.user_id) == clock.now()
    with pytest.raises(AccessDenied) as replay:
        verify(serial, codes(0), alice.user_id)
    assert replay.value.message == MFA_INVALID_PASSCODE
    with pytest.raises(AccessDenied):  # an older step than the last one used is a replay too
        verify(serial, codes(-1), alice.user_id)
    assert verify(serial, codes(1), alice.user_id) == clock.now()


def test_verify_refuses_wrong_codes(enabled: tuple[str, Codes], verify: Callable[..., Any], store: SqlStore) -> None:
    serial, codes = enabled
    wrong = next(c for c in ("000000", "111111", "222222") if c not in {codes(-1), codes(0), codes(1)})
    with pytest.raises(AccessDenied) as err:
        verify(serial, wrong, _alice(store).user_id)
    assert err.value.message == "MultiFactorAuthentication failed with invalid MFA one time pass code."
    with pytest.raises(AccessDenied):
        verify(serial, codes(3), _alice(store).user_id)


def test_verify_refuses_other_users_devices(
    op: Caller, enabled: tuple[str, Codes], verify: Callable[..., Any], store: SqlStore, clock: FixedClock
) -> None:
    serial, codes = enabled
    op("CreateUser", UserName="bob")
    with store.transaction() as tx:
        bob = tx.iam.get_user("bob")
    assert bob is not None
    for who in (bob.id, None, "AIDANOSUCHUSER000000"):
        with pytest.raises(AccessDenied) as err:
            verify(serial, codes(0), who)
        assert err.value.message == MFA_UNKNOWN_DEVICE
    with pytest.raises(AccessDenied) as unknown:
        verify(SERIAL + "-missing", codes(0), _alice(store).user_id)
    assert unknown.value.message == MFA_UNKNOWN_DEVICE
    # the refusals above did not spend the code
    assert verify(serial, codes(0), _alice(store).user_id) == clock.now()


def test_verify_code_of_another_device(
    op: Caller, enabled: tuple[str, Codes], verify: Callable[..., Any], store: SqlStore, clock: FixedClock
) -> None:
    serial, codes = enabled
    other = _codes(_seed(op("CreateVirtualMFADevice", VirtualMFADeviceName="other")), clock)
    if other(0) not in {codes(-1), codes(0), codes(1)}:
        with pytest.raises(AccessDenied) as err:
            verify(serial, other(0), _alice(store).user_id)
        assert err.value.message == MFA_INVALID_PASSCODE

"""Virtual MFA devices: the IAM operations and the one-time-code check STS calls.

Operations (IAM API Reference, one page each, sections "Request Parameters" and "Errors"):
CreateVirtualMFADevice, EnableMFADevice, ListMFADevices, ListVirtualMFADevices, DeactivateMFADevice,
DeleteVirtualMFADevice, ResyncMFADevice, GetMFADevice
(https://docs.aws.amazon.com/IAM/latest/APIReference/API_CreateVirtualMFADevice.html and siblings).

- The serial number of a virtual device is its ARN ``arn:…:iam::ACCOUNT:mfa/PATH/NAME``
  (IAM User Guide, "IAM ARNs", https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_identifiers.html).
- The seed is returned once, by CreateVirtualMFADevice (``Base32StringSeed`` and ``QRCodePNG``), and
  stored only sealed by the envelope under the associated data ``mfa-seed:SERIAL``. It is never logged.
- A user may have up to 8 MFA devices ("IAM object quotas", MFA devices in use per user,
  https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html#reference_iam-quotas-entities).
- A code is accepted once: the store's conditional ``use_mfa_step`` moves the device's last used
  time step forward atomically, so two nodes presented the same code accept it at most once.

``ResyncMFADevice`` checks two consecutive codes in the normal ±1-step window and moves the replay
marker; the store has no per-device drift offset, so clock drift beyond one step is not compensated
(docs/compatibility.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from broker.credentials import mfa as totp
from broker.credentials.envelope import EnvelopeError
from broker.errors import (
    AccessDenied,
    DeleteConflict,
    EntityAlreadyExists,
    InvalidAuthenticationCode,
    InvalidInput,
    LimitExceeded,
    NoSuchEntity,
    ServiceFailure,
)
from broker.service.env import OpEnv, OpFunc
from broker.service.iam.common import authorize_target_user, authorize_user, path_of, repo, user_shape
from broker.service.iam.pagination import paginate
from broker.store.sqlalchemy.repositories.security import MfaDeviceRecord, SecurityRepository

__all__ = [
    "ISSUER",
    "MFA_DEVICES_PER_USER",
    "OPERATIONS",
    "create_virtual_mfa_device",
    "deactivate_mfa_device",
    "delete_virtual_mfa_device",
    "enable_mfa_device",
    "get_mfa_device",
    "list_mfa_devices",
    "list_virtual_mfa_devices",
    "resync_mfa_device",
    "verify_mfa_code",
]

MFA_DEVICES_PER_USER = 8
ISSUER = "broker"
"""The ``issuer`` authenticator apps show beside the account name."""

INVALID_CODE = "Authentication code for device is not valid."
"""EnableMFADevice/ResyncMFADevice ``InvalidAuthenticationCode`` (403), as AWS words it."""
MFA_INVALID_PASSCODE = "MultiFactorAuthentication failed with invalid MFA one time pass code."
"""STS ``AccessDenied`` for a wrong or reused ``TokenCode`` (AssumeRole, GetSessionToken)."""
MFA_UNKNOWN_DEVICE = (
    "MultiFactorAuthentication failed, unable to validate MFA code.  "
    "Please verify your MFA serial number is valid and associated with this user."
)
"""STS ``AccessDenied`` when ``SerialNumber`` names no device of the caller (AWS's double space kept)."""


def _security(env: OpEnv) -> SecurityRepository:
    security: SecurityRepository = env.tx.security
    return security


def _no_such_device(serial: str) -> NoSuchEntity:
    return NoSuchEntity(f"VirtualMFADevice with serial number {serial} doesn't exist.")


def _open_seed(env: OpEnv, device: MfaDeviceRecord) -> totp.Seed:
    try:
        raw = env.envelope.open(device.sealed_seed, aad=f"mfa-seed:{device.serial_number}".encode())
    except EnvelopeError as exc:  # wrong master key or a tampered row: never guess, fail closed
        raise ServiceFailure("The MFA device could not be read.", detail=f"sealed seed unusable: {exc}") from exc
    return totp.Seed(raw.decode("ascii"))


# --- operations ----------------------------------------------------------------------------------


def create_virtual_mfa_device(env: OpEnv, params: Mapping[str, Any]) -> dict[str, Any]:
    """CreateVirtualMFADevice: a new unassigned device; the seed and QR code are returned this once."""
    name, path = str(params["VirtualMFADeviceName"]), path_of(params)
    serial = env.arns.mfa(name, path)
    env.authorize("iam:CreateVirtualMFADevice", serial)
    if params.get("Tags"):
        raise InvalidInput("broker does not support tags on MFA devices.", detail="Tags in CreateVirtualMFADevice")
    security = _security(env)
    if security.get_mfa_device(serial) is not None:
        raise EntityAlreadyExists("MFADevice entity at the same path and name already exists.")
    seed = totp.new_seed(env.entropy)
    sealed = env.envelope.seal(seed.base32.encode("ascii"), aad=f"mfa-seed:{serial}".encode())
    security.create_mfa_device(serial, sealed, env.call.now)
    uri = totp.otpauth_uri(seed, account_name=f"{name}@{env.arns.account}", issuer=ISSUER)
    return {
        "VirtualMFADevice": {
            "SerialNumber": serial,
            "Base32StringSeed": seed.base32.encode("ascii"),
            "QRCodePNG": totp.qr_png(uri),
        }
    }


def enable_mfa_device(env: OpEnv, params: Mapping[str, Any]) -> dict[str, Any]:
    """EnableMFADevice: assign a virtual device to a user after two consecutive codes."""
    user = authorize_user(env, "iam:EnableMFADevice", str(params["UserName"]))
    serial = str(params["SerialNumber"])
    security = _security(env)
    device = security.get_mfa_device(serial)
    if device is None:
        raise _no_such_device(serial)
    if device.user_name is not None:
        raise EntityAlreadyExists("MFA Device is already in use.", detail=f"{serial} is assigned")
    if len(security.list_mfa_devices(user.name)) >= MFA_DEVICES_PER_USER:
        raise LimitExceeded(f"Cannot exceed quota for MFADevicesPerUser: {MFA_DEVICES_PER_USER}")
    step = _consecutive(env, device, params)
    if not security.use_mfa_step(serial, step):
        raise InvalidAuthenticationCode(INVALID_CODE, detail=f"codes of step {step} were already used")
    if not security.enable_mfa_device(serial, user.name, env.call.now, step):
        raise EntityAlreadyExists("MFA Device is already in use.", detail=f"{serial} was assigned concurrently")
    return {}


def resync_mfa_device(env: OpEnv, params: Mapping[str, Any]) -> dict[str, Any]:
    """ResyncMFADevice: two consecutive codes from a device enabled for the user."""
    user = authorize_user(env, "iam:ResyncMFADevice", str(params["UserName"]))
    serial = str(params["SerialNumber"])
    security = _security(env)
    device = security.get_mfa_device(serial)
    if device is None or device.user_name != user.name:
        raise _no_such_device(serial)
    step = _consecutive(env, device, params)
    if not security.use_mfa_step(serial, step):
        raise InvalidAuthenticationCode(INVALID_CODE, detail=f"codes of step {step} were already used")
    return {}


def _consecutive(env: OpEnv, device: MfaDeviceRecord, params: Mapping[str, Any]) -> int:
    seed = _open_seed(env, device)
    code1, code2 = str(params["AuthenticationCode1"]), str(params["AuthenticationCode2"])
    step = totp.consecutive_step(seed, code1, code2, env.call.now)
    if step is None:
        raise InvalidAuthenticationCode(INVALID_CODE, detail="the codes are not two consecutive codes of the device")
    return step


def deactivate_mfa_device(env: OpEnv, params: Mapping[str, Any]) -> dict[str, Any]:
    """DeactivateMFADevice: the device returns to the unassigned pool (its seed is kept)."""
    user = authorize_target_user(env, params, "iam:DeactivateMFADevice")
    serial = str(params["SerialNumber"])
    security = _security(env)
    device = security.get_mfa_device(serial)
    if device is None or user is None or device.user_name != user.name:
        raise _no_such_device(serial)
    security.deactivate_mfa_device(serial)
    return {}


def delete_virtual_mfa_device(env: OpEnv, params: Mapping[str, Any]) -> dict[str, Any]:
    """DeleteVirtualMFADevice: ``DeleteConflict`` while the device is enabled for a user."""
    serial = str(params["SerialNumber"])
    env.authorize("iam:DeleteVirtualMFADevice", serial)
    security = _security(env)
    device = security.get_mfa_device(serial)
    if device is None:
        raise _no_such_device(serial)
    if device.user_name is not None:
        raise DeleteConflict("MFA VirtualDevice in use. Must deactivate first.", detail=f"user {device.user_name}")
    security.delete_mfa_device(serial)
    return {}


def _mfa_shape(device: MfaDeviceRecord) -> dict[str, Any]:
    return {"UserName": device.user_name, "SerialNumber": device.serial_number, "EnableDate": device.enabled_at}


def list_mfa_devices(env: OpEnv, params: Mapping[str, Any]) -> dict[str, Any]:
    """ListMFADevices: the devices enabled for a user (the caller without ``UserName``)."""
    user = authorize_target_user(env, params, "iam:ListMFADevices")
    devices = _security(env).list_mfa_devices(user.name) if user is not None else []
    page, more = paginate(devices, lambda d: d.serial_number, params)
    return {"MFADevices": [_mfa_shape(d) for d in page], **more}


def list_virtual_mfa_devices(env: OpEnv, params: Mapping[str, Any]) -> dict[str, Any]:
    """ListVirtualMFADevices with ``AssignmentStatus`` ``Assigned``, ``Unassigned`` or ``Any`` (default)."""
    env.authorize("iam:ListVirtualMFADevices", "*")
    status = str(params.get("AssignmentStatus") or "Any")
    assigned = {"Assigned": True, "Unassigned": False}.get(status)
    devices = _security(env).list_mfa_devices(assigned=assigned)
    page, more = paginate(devices, lambda d: d.serial_number, params)
    iam = repo(env)
    out: list[dict[str, Any]] = []
    for device in page:
        item: dict[str, Any] = {"SerialNumber": device.serial_number}
        owner = iam.get_user(device.user_name) if device.user_name else None
        if owner is not None:
            item["User"] = user_shape(env, owner)
            item["EnableDate"] = device.enabled_at
        out.append(item)
    return {"VirtualMFADevices": out, **more}


def get_mfa_device(env: OpEnv, params: Mapping[str, Any]) -> dict[str, Any]:
    """GetMFADevice: an enabled device of a user (the caller without ``UserName``)."""
    user = authorize_target_user(env, params, "iam:GetMFADevice")
    serial = str(params["SerialNumber"])
    device = _security(env).get_mfa_device(serial)
    if device is None or user is None or device.user_name != user.name:
        raise _no_such_device(serial)
    return _mfa_shape(device)


OPERATIONS: dict[str, OpFunc] = {
    "CreateVirtualMFADevice": create_virtual_mfa_device,
    "EnableMFADevice": enable_mfa_device,
    "ResyncMFADevice": resync_mfa_device,
    "DeactivateMFADevice": deactivate_mfa_device,
    "DeleteVirtualMFADevice": delete_virtual_mfa_device,
    "ListMFADevices": list_mfa_devices,
    "ListVirtualMFADevices": list_virtual_mfa_devices,
    "GetMFADevice": get_mfa_device,
}


# --- STS ---------------------------------------------------------------------------------------------


def verify_mfa_code(env: OpEnv, serial_number: str, code: str, *, user_id: str | None) -> datetime:
    """Check ``TokenCode`` against the caller's device ``SerialNumber``; return the authentication time.

    For AssumeRole and GetSessionToken ("Configuring MFA-protected API access",
    https://docs.aws.amazon.com/IAM/latest/UserGuide/id_credentials_mfa_configure-api-require.html):
    the device must be enabled for the calling IAM user (``user_id`` is its ``AIDA…`` id; ``None`` —
    root or a role session — owns no virtual device in broker, so it fails closed). A code is accepted
    once; a second use, even within its 30 seconds, is ``AccessDenied``. The step marker is written in
    the operation's transaction: if the operation is later refused, nothing was issued and the code may
    be tried again.
    """
    user = repo(env).get_user_by_id(user_id) if user_id is not None else None
    security = _security(env)
    device = security.get_mfa_device(serial_number)
    if user is None or device is None or device.user_name != user.name:
        raise AccessDenied(MFA_UNKNOWN_DEVICE, detail=f"no device {serial_number} enabled for {user_id}")
    step = totp.matching_step(_open_seed(env, device), code, env.call.now)
    if step is None:
        raise AccessDenied(MFA_INVALID_PASSCODE, detail=f"wrong code for {serial_number}")
    if not security.use_mfa_step(serial_number, step):
        raise AccessDenied(MFA_INVALID_PASSCODE, detail=f"code of step {step} for {serial_number} was already used")
    return env.call.now

"""The ``Decision.reason`` sentences, one per outcome of the combining rule in ``evaluate.py``.

Shared by ``evaluate.py`` (which picks one) and ``plan.py`` (which pre-builds the decision for an action no
statement applies to). The rule they name is documented, with its AWS sources, in ``evaluate.py``.
"""

from __future__ import annotations

__all__ = [
    "BOUNDARY_DENIES",
    "CROSS_ACCOUNT",
    "EXPLICIT_DENY",
    "IDENTITY_ALLOWS",
    "NO_IDENTITY_ALLOW",
    "NO_SESSION_ALLOW",
    "RESOURCE_DIRECT",
    "RESOURCE_ROLE",
    "TRUST_DENIES",
]

EXPLICIT_DENY = "an explicit Deny statement applies"
CROSS_ACCOUNT = "cross-account access needs both an identity-based and a resource-based allow"
RESOURCE_DIRECT = "a resource-based policy allows and names the principal directly"
TRUST_DENIES = "the resource-based (trust) policy does not allow the principal"
NO_IDENTITY_ALLOW = "no identity-based policy allows the action"
BOUNDARY_DENIES = "the permissions boundary does not allow the action"
NO_SESSION_ALLOW = "no session policy allows the action"
IDENTITY_ALLOWS = "identity-based policies allow the action"
RESOURCE_ROLE = "a resource-based policy naming the role allows the action"

"""``RoleLastUsed`` written at most once per role per node per minute, for every way a role is assumed.

IAM reports ``RoleLastUsed`` (``LastUsedDate``, ``Region``) with coarse granularity: "Activity is only
reported for the trailing 400 days" and the data is not real time ("RoleLastUsed", IAM API Reference,
https://docs.aws.amazon.com/IAM/latest/APIReference/API_RoleLastUsed.html; "Where data is tracked",
https://docs.aws.amazon.com/IAM/latest/UserGuide/access_policies_last-accessed.html). Broker therefore
writes the row at most once a minute per role on each node, the way ``service/authn.py`` throttles
``AccessKeyLastUsed``: a write on every assumption would turn every sign-in into a row update.

AssumeRole, AssumeRoleWithWebIdentity (and the flows built on it) and AssumeRoleWithSAML call
:meth:`RoleUse.record`; one instance is held per application (node).
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from typing import Any

__all__ = ["ROLE_USE_INTERVAL", "RoleUse"]

ROLE_USE_INTERVAL = timedelta(seconds=60)


class RoleUse:
    """Per-node memory of when each role's ``RoleLastUsed`` was last written."""

    def __init__(self, interval: timedelta = ROLE_USE_INTERVAL) -> None:
        self.interval = interval
        self._written: dict[str, datetime] = {}
        self._lock = threading.Lock()

    def due(self, role_id: str, now: datetime) -> bool:
        """Whether a write for ``role_id`` at ``now`` is due; if so, it is remembered as written.

        A clock that went backwards counts as due, so a skewed entry never silences a role for long.
        """
        with self._lock:
            last = self._written.get(role_id)
            if last is not None and timedelta(0) <= now - last < self.interval:
                return False
            self._written[role_id] = now
            return True

    def record(self, tx: Any, role_id: str, role_name: str, now: datetime, region: str) -> bool:
        """``tx.iam.record_role_use`` unless this node wrote the role in the last interval; ``True`` if written."""
        if not self.due(role_id, now):
            return False
        tx.iam.record_role_use(role_name, now, region)
        return True

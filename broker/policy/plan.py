"""A policy set's evaluation plan: for each distinct action, the statements that can apply, remembered.

Building the candidate list consults each policy's action index once per distinct action; afterwards a
decision for that action is one dictionary lookup away from the handful of statements that matter, so
the cost of a decision does not grow with the number of statements that cannot match. The memo is
bounded (it is emptied when full). Plans are attached to the ``PolicySet`` that asked for them and also
kept in a small module cache keyed by the compiled policies, so a caller that rebuilds an equal set per
request still reuses the plan.
"""

from __future__ import annotations

import threading

from broker.policy.compile import CompiledPolicy, CompiledStatement
from broker.policy.model import MatchedStatement, PolicySet, SetName

__all__ = ["BOUNDARY", "IDENTITY", "RESOURCE", "SESSION", "Candidate", "Plan", "plan_for"]

IDENTITY, RESOURCE, BOUNDARY, SESSION = 0, 1, 2, 3
_SET_NAMES: tuple[SetName, ...] = ("identity", "resource", "boundary", "session")
_MEMO_LIMIT = 8192
_PLAN_CACHE_LIMIT = 2048

Candidate = tuple[CompiledStatement, int, MatchedStatement]
_Key = tuple[tuple[CompiledPolicy, ...], tuple[CompiledPolicy, ...], object, object, object]


class Plan:
    __slots__ = ("has_boundary", "has_session", "memo", "must_allow", "sets")

    def __init__(self, policies: PolicySet) -> None:
        sets: list[tuple[int, CompiledPolicy]] = [(IDENTITY, p) for p in policies.identity]
        sets += [(RESOURCE, p) for p in policies.resource]
        sets += [(BOUNDARY, p) for p in policies.boundary or ()]
        sets += [(SESSION, p) for p in policies.session or ()]
        self.sets = tuple(sets)
        self.has_boundary = policies.boundary is not None
        self.has_session = policies.session is not None
        self.must_allow = policies.resource_must_allow
        self.memo: dict[str, tuple[Candidate, ...]] = {}

    def candidates(self, action: str) -> tuple[Candidate, ...]:
        """The statements whose Action/NotAction covers ``action`` (lower-cased), memoised."""
        found = self.memo.get(action)
        if found is not None:
            return found
        out: list[Candidate] = []
        for code, policy in self.sets:
            for statement in policy.candidates(action):
                record = MatchedStatement(
                    policy.policy_id,
                    statement.sid,
                    statement.pointer,
                    "Deny" if statement.deny else "Allow",
                    _SET_NAMES[code],
                )
                out.append((statement, code, record))
        result = tuple(out)
        if len(self.memo) >= _MEMO_LIMIT:
            self.memo.clear()
        self.memo[action] = result
        return result


_plans: dict[_Key, Plan] = {}
_lock = threading.Lock()


def plan_for(policies: PolicySet) -> Plan:
    """The plan of ``policies``, built once and attached to it."""
    key: _Key = (
        tuple(policies.identity),
        tuple(policies.resource),
        policies.boundary,
        policies.session,
        policies.resource_must_allow,
    )
    with _lock:
        plan = _plans.get(key)
        if plan is None:
            plan = Plan(policies)
            if len(_plans) >= _PLAN_CACHE_LIMIT:
                del _plans[next(iter(_plans))]
            _plans[key] = plan
    object.__setattr__(policies, "_plan", plan)
    return plan

"""IP address condition operators.

"IAM JSON policy elements: Condition operators", section "IP address condition operators"
(https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html#Conditions_IPAddress):
``IpAddress`` / ``NotIpAddress`` take IPv4 or IPv6 addresses or CIDR ranges (RFC 4632); a bare address is
a /32 (/128). Parsing uses the standard ``ipaddress`` module; context addresses are parsed once per
distinct string.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from broker.policy.conditions.base import Matcher, Operator, bounded_put

__all__ = ["OPERATORS", "build_ip", "parse_address"]

_Address = ipaddress.IPv4Address | ipaddress.IPv6Address
_memo: dict[str, object] = {}


def parse_address(text: str) -> _Address | None:
    cached = _memo.get(text, _memo)
    if cached is not _memo:
        return cached  # type: ignore[return-value]
    try:
        address: _Address | None = ipaddress.ip_address(text.strip())
    except ValueError:
        address = None
    bounded_put(_memo, text, address)
    return address


def build_ip(values: Sequence[str]) -> Matcher:
    v4: list[ipaddress.IPv4Network] = []
    v6: list[ipaddress.IPv6Network] = []
    for value in values:
        try:
            network = ipaddress.ip_network(value.strip(), strict=False)
        except ValueError:
            raise ValueError(f"Invalid IP address or CIDR block {value!r} in condition") from None
        if isinstance(network, ipaddress.IPv4Network):
            v4.append(network)
        else:
            v6.append(network)
    v4_t, v6_t = tuple(v4), tuple(v6)

    def match(value: str) -> bool:
        address = parse_address(value)
        if address is None:
            return False
        if isinstance(address, ipaddress.IPv4Address):
            return any(address in net for net in v4_t)
        return any(address in net for net in v6_t)

    return match


OPERATORS = (
    Operator("IpAddress", "IpAddress", False, build_ip),
    Operator("NotIpAddress", "IpAddress", True, build_ip),
)

"""IP address condition operators.

"IAM JSON policy elements: Condition operators", section "IP address condition operators"
(https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html#Conditions_IPAddress):
``IpAddress`` / ``NotIpAddress`` take IPv4 or IPv6 addresses or CIDR ranges (RFC 4632); a bare address is
a /32 (/128). Policy values are parsed with the standard ``ipaddress`` module into (network, mask)
integers; a context address is parsed with ``socket.inet_pton`` (strict dotted-quad / RFC 4291 text) and
tested with integer arithmetic, so no address object is built per request.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Sequence

from broker.policy.conditions.base import Matcher, Operator

__all__ = ["OPERATORS", "build_ip", "parse_address"]

_V4, _V6 = socket.AF_INET, socket.AF_INET6
_from_bytes = int.from_bytes
_pton = socket.inet_pton


def parse_address(text: str) -> tuple[int, int] | None:
    """(4 or 6, integer value) for an IPv4 or IPv6 address, or ``None``."""
    try:
        if ":" in text:
            return 6, _from_bytes(_pton(_V6, text.split("%", 1)[0]), "big")
        return 4, _from_bytes(_pton(_V4, text), "big")
    except (OSError, ValueError):
        return None


def build_ip(values: Sequence[str]) -> Matcher:
    v4: list[tuple[int, int]] = []
    v6: list[tuple[int, int]] = []
    for value in values:
        try:
            network = ipaddress.ip_network(value.strip(), strict=False)
        except ValueError:
            raise ValueError(f"Invalid IP address or CIDR block {value!r} in condition") from None
        pair = (int(network.network_address), int(network.netmask))
        (v4 if network.version == 4 else v6).append(pair)
    v4_t, v6_t = tuple(v4), tuple(v6)
    heads = _octet_prefixes(v4_t)
    if heads is not None and not v6_t:
        # Every range is /0, /8, /16, /24 or /32: a dotted-quad matches iff it starts with the range's octets.

        def match_prefix(value: str) -> bool:
            if not value.startswith(heads):
                return False
            try:
                _pton(_V4, value)
            except (OSError, ValueError):
                return False
            return True

        # The same test as data, for the generated decision functions (``fastpath``), which write it inline:
        # ``value.startswith(heads)``, then ``check(family, value)`` must not raise OSError or ValueError.
        match_prefix.ipv4 = (heads, _pton, _V4)  # type: ignore[attr-defined]
        return match_prefix

    def match(value: str) -> bool:
        try:
            if ":" in value:
                address, nets = _from_bytes(_pton(_V6, value.split("%", 1)[0]), "big"), v6_t
            else:
                address, nets = _from_bytes(_pton(_V4, value), "big"), v4_t
        except (OSError, ValueError):
            return False
        for net, mask in nets:
            if address & mask == net:
                return True
        return False

    return match


def _octet_prefixes(networks: tuple[tuple[int, int], ...]) -> tuple[str, ...] | None:
    """``"10."`` for 10.0.0.0/8 etc.; ``None`` unless every mask is /0, /8, /16 or /24 (a /32 prefix
    ``"10.0.0.1"`` would also match ``10.0.0.12``)."""
    out: list[str] = []
    for net, mask in networks:
        bits = bin(mask).count("1")
        if bits % 8 or bits == 32:
            return None
        out.append("".join(f"{(net >> (24 - 8 * i)) & 0xFF}." for i in range(bits // 8)))
    return tuple(out)


OPERATORS = (
    Operator("IpAddress", "IpAddress", False, build_ip),
    Operator("NotIpAddress", "IpAddress", True, build_ip),
)

"""Customer URLs an upstream would fetch (L7): refuse the ones that point inside a network.

An `input_image.image_url`, an `input_file.file_url` or an MCP `server_url` is fetched by the upstream,
and a self-hosted or in-cluster upstream fetches it from inside the operator's network. So a URL is
refused (400 `url_not_allowed`) when its host is loopback, private (RFC 1918, CGNAT 100.64/10, ULA
fc00::/7), link-local (169.254/16, fe80::/10, the cloud metadata address), unspecified, multicast or
otherwise not globally routable; when it names `localhost`, a `.local`/`.internal`/`.localhost`/
`.localdomain`/`.home.arpa` name or a dotless name (resolved through the upstream's search domains);
or when it is not http(s) (`data:` URLs are inline content and stay allowed).

We decide on the literal host only and never resolve names: resolving would block the event loop,
and it would prove nothing, since the upstream resolves the name again itself (DNS rebinding). A
public name that resolves to a private address is the upstream's egress filter's to stop. What the
literal check does catch is every spelling of an address (decimal `2130706433`, octal `0177.1`, hex
`0x7f.1`, IPv4-mapped/6to4/NAT64 IPv6). The operator's per-channel `allow_url_hosts` (names,
`*.suffix` patterns, IPs or CIDRs) is for the internal hosts an upstream may legitimately reach, e.g.
a file server next to a self-hosted model.
"""

import ipaddress
import re
import socket
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from gateway.wire.errors import InvalidRequest

_BLOCKED_SUFFIXES = (".localhost", ".local", ".internal", ".localdomain", ".home.arpa", ".lan", ".intranet")
_BLOCKED_NAMES = frozenset({"localhost", "metadata.google.internal", "instance-data"})
_NUMERIC_LABEL = re.compile(r"^(0x[0-9a-f]*|[0-9]+)$")
_HOST_NAME = re.compile(r"^[a-z0-9_]([a-z0-9_-]{0,62})(\.[a-z0-9_]([a-z0-9_-]{0,62}))*$")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_MAX_URL = 32_768  # longer http(s) URLs are refused outright (data: URLs are not URLs to fetch)

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True, slots=True)
class Flagged:
    """A URL the default policy refuses, unless a channel's allowlist names its host."""

    param: str
    host: str  # lower case, no brackets, no trailing dot
    address: Address | None  # the literal address, when the host is one


def _refuse(param: str, why: str) -> InvalidRequest:
    return InvalidRequest(
        f"Invalid '{param}': {why}. URLs must be public http(s) addresses (or data: URLs).",
        param=param,
        code="url_not_allowed",
    )


def literal_address(host: str) -> Address | None:
    """The address a host spells, in any notation a resolver would accept, or None for a name."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    last = host.rsplit(".", 1)[-1]
    if _NUMERIC_LABEL.match(last):
        # inet_aton takes exactly the legacy forms (127.1, 0x7f.1, 0177.0.0.1, 2130706433) that
        # resolvers and URL parsers treat as IPv4; it does no lookup.
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            raise ValueError(host) from None  # numeric but no address: refused, never a name
    return None


def _embedded_v4(address: Address) -> ipaddress.IPv4Address | None:
    if isinstance(address, ipaddress.IPv4Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def address_is_public(address: Address) -> bool:
    inner = _embedded_v4(address)
    if inner is not None and not address_is_public(inner):
        return False
    return address.is_global and not address.is_multicast and not address.is_unspecified


def name_is_public(host: str) -> bool:
    if host in _BLOCKED_NAMES or host.endswith(_BLOCKED_SUFFIXES):
        return False
    return "." in host  # a dotless name resolves through the upstream's own search domains


def check_url(url: Any, param: str) -> Flagged | None:
    """None when `url` may go to any upstream; a Flagged when only an allowlisting channel may take it.
    Raises InvalidRequest for what no allowlist can make acceptable (other schemes, unparsable URLs)."""
    if isinstance(url, dict):  # the Chat shape {"url": …}, forwarded as sent
        url = url.get("url")
    if not isinstance(url, str):
        return None  # schema.py reports wrong types
    if url[:5].lower() == "data:":
        return None
    if len(url) > _MAX_URL:
        raise _refuse(param, "the URL is too long")
    if any(ch in url for ch in "\\\t\r\n ") or not url.isprintable():
        raise _refuse(param, "the URL contains spaces, backslashes or control characters")
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise _refuse(param, "the URL cannot be parsed") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise _refuse(param, "only http and https URLs are fetched")
    if not host:
        raise _refuse(param, "the URL has no host")
    if "@" in parts.netloc:  # user info: parsers disagree on where the host starts
        raise _refuse(param, "the URL may not carry a user name or password")
    host = host.rstrip(".")
    try:
        address = literal_address(host)
    except ValueError:
        raise _refuse(param, "the host is neither a name nor a valid address") from None
    if address is None:
        if not _HOST_NAME.match(host):
            raise _refuse(param, "the host is not a valid name")
        return None if name_is_public(host) else Flagged(param, host, None)
    return None if address_is_public(address) else Flagged(param, host, address)


def _networks(entries: list[str]) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    nets = []
    for entry in entries:
        try:
            nets.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            continue
    return nets


def host_allowed(flagged: Flagged, allowlist: list[str]) -> bool:
    """Whether an operator's `allow_url_hosts` entry covers this host."""
    if flagged.address is not None:
        address = _embedded_v4(flagged.address) or flagged.address
        return any(address in net for net in _networks(allowlist))
    for entry in allowlist:
        entry = entry.lower().rstrip(".")
        if entry == flagged.host or (entry.startswith("*.") and flagged.host.endswith(entry[1:])):
            return True
    return False


def validate_allowlist(value: Any) -> str | None:
    """What is wrong with an `allow_url_hosts` option, or None. Entries: names, `*.suffix`, IPs, CIDRs."""
    if not isinstance(value, list) or len(value) > 100:
        return "allow_url_hosts must be a list of at most 100 host names, *.suffix patterns, IPs or CIDRs"
    for entry in value:
        if not isinstance(entry, str) or not entry.strip():
            return "allow_url_hosts entries must be non-empty strings"
        name = entry.lower().rstrip(".").removeprefix("*.")
        try:
            ipaddress.ip_network(entry, strict=False)
            continue
        except ValueError:
            pass
        if not _HOST_NAME.match(name):
            return f"allow_url_hosts: {entry!r} is not a host name, *.suffix pattern, IP or CIDR"
    return None


def customer_urls(raw: dict[str, Any]) -> list[tuple[str, Any]]:
    """Every (param, url) in a request that an upstream may fetch."""
    found: list[tuple[str, Any]] = []
    items = raw.get("input")
    for index, item in enumerate(items if isinstance(items, list) else ()):
        if not isinstance(item, dict):
            continue
        for key in ("content", "output"):  # message parts; function_call_output parts
            parts = item.get(key)
            for number, part in enumerate(parts if isinstance(parts, list) else ()):
                if not isinstance(part, dict):
                    continue
                for field in ("image_url", "file_url"):
                    if field in part:
                        found.append((f"input[{index}].{key}[{number}].{field}", part[field]))
    tools = raw.get("tools")
    for index, tool in enumerate(tools if isinstance(tools, list) else ()):
        if isinstance(tool, dict) and "server_url" in tool:
            found.append((f"tools[{index}].server_url", tool["server_url"]))
    return found


def flagged_urls(raw: dict[str, Any]) -> tuple[Flagged, ...]:
    return tuple(f for param, url in customer_urls(raw) if (f := check_url(url, param)) is not None)

"""Which mail servers the worker may connect to for users' mailboxes.

A mailbox's server is whatever its owner typed in, and the worker connects to it from inside the company's network:
without a rule any rep could make it knock on internal hosts and ports (SSRF) and read what answered in the
mailbox's error. So it reads only servers whose every address is public, on the IMAP ports (993, 143), unless an
administrator lists the server in CRM_MAILBOX_ALLOWED_HOSTS: a host name, or a network in CIDR notation that holds
every address of the server. A listed server may use any port.

The rule is checked when a mailbox is saved (a form error) and again right before each connection, which then goes
to the addresses checked (mail_sync): a name that resolves differently later (DNS rebinding) gains nothing.
"""

import ipaddress
import socket
from functools import lru_cache

from django.conf import settings
from django.utils.translation import gettext as _

IMAP_PORTS = (993, 143)

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class ServerRefused(Exception):
    """The server may not be used; ``message`` says why in the active language, ``field`` is the form field."""

    def __init__(self, message: str, field: str):
        super().__init__(message)
        self.message, self.field = message, field


def resolve(host: str) -> list[str]:
    """The addresses ``host`` resolves to now, in the resolver's order (an address literal is itself)."""
    infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(info[4][0] for info in infos))


@lru_cache(maxsize=8)
def _parse_allowed(entries: tuple[str, ...]) -> tuple[frozenset[str], tuple[Network, ...]]:
    names, networks = set(), []
    for entry in (e.strip() for e in entries):
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            names.add(_name(entry))
    return frozenset(names), tuple(networks)


def _name(host: str) -> str:
    return host.strip().rstrip(".").lower()


def _ip(address: str) -> Address:
    return ipaddress.ip_address(address.split("%", 1)[0])  # fe80::1%eth0: the zone says nothing about the kind


def is_public(ip: Address) -> bool:
    """An address on the internet: not loopback, private, link-local, shared (CGNAT), multicast, reserved or
    unspecified, nor an IPv6 address that carries such an IPv4 address (mapped or 6to4)."""
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour
        if embedded is not None and not is_public(embedded):
            return False
    return ip.is_global and not (ip.is_multicast or ip.is_reserved or ip.is_unspecified or ip.is_loopback
                                 or ip.is_link_local or ip.is_private)


def allowed_addresses(host: str, port: int) -> list[str]:
    """The addresses of ``host`` the worker may connect to on ``port``, resolved now. Raises ServerRefused."""
    names, networks = _parse_allowed(tuple(getattr(settings, "CRM_MAILBOX_ALLOWED_HOSTS", ())))
    name = _name(host)
    try:
        addresses = resolve(name)
    except (OSError, UnicodeError, ValueError):  # socket.gaierror is an OSError; a bad IDNA label a UnicodeError
        addresses = []
    if not addresses:
        raise ServerRefused(_("The mail server %(server)s is unknown: check its name.") % {"server": host}, "host")
    if name in names:
        return addresses
    ips = [_ip(address) for address in addresses]
    if networks and all(any(ip in network for network in networks) for ip in ips):
        return addresses
    if not all(is_public(ip) for ip in ips):
        raise ServerRefused(_("%(server)s is inside the network, not a mail server on the internet: the CRM may not "
                              "connect to it. An administrator can allow it.") % {"server": host}, "host")
    if port not in IMAP_PORTS:
        raise ServerRefused(_("Mail servers are read on port 993 (SSL/TLS) or 143. An administrator can allow "
                              "another port for a server."), "port")
    return addresses

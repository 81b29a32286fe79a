# Internal module_utils of vibebox.secrets: not part of the public API, may change without notice.
"""What an unreachable endpoint's error may show and say: the endpoint and the kind of failure.

Every remote provider turns "no answer" into one message: the endpoint it tried (scheme, host and
port only: a URL may carry a user, a password or a signed query string) and what went wrong, told
apart from the SDK's exception chain, because "cannot reach X" alone leaves the operator guessing
between a typo in the host name, a stopped server, a firewall and a certificate.

Kept out of errors.py, which every module and lookup imports: providers import this file only when
a request has failed, so a run that reaches its service never compiles it.
"""
from __future__ import annotations

import errno
from typing import Any, Iterator, List, Optional
from urllib.parse import urlsplit

from ansible_collections.vibebox.secrets.plugins.module_utils.core.errors import ProviderUnreachable

REFUSED = "connection refused"
TIMED_OUT = "timed out"
TLS = "TLS handshake failed"
DNS = "host name not found (DNS)"
CLOSED = "connection closed before an answer"
NETWORK = "network error"

_DEFAULT_PORTS = {"https": 443, "http": 80}
_TEXT_KINDS = (  # checked in this order on the lower-cased texts of the exception chain
    # a handshake the server never answered (a firewall, a hung server) is a timeout, not a certificate problem
    (TIMED_OUT, ("handshake read failed", "handshake timed out", "handshake operation timed out")),
    (TLS, ("certificate", "ssl", "tls", "handshake", "wrong version number")),
    (DNS, ("name or service not known", "nodename nor servname", "temporary failure in name resolution",
           "dns resolution failed", "getaddrinfo", "name resolution", "no address associated", "failed to resolve",
           "could not resolve", "errors resolving", "domain name not found", "address lookup failed")),
    (REFUSED, ("connection refused", "actively refused", "errno 111", "econnrefused")),
    (TIMED_OUT, ("timed out", "timeout", "deadline exceeded", "deadline_exceeded")),
    (CLOSED, ("connection reset", "connection aborted", "remote end closed", "socket closed", "connection closed",
              "broken pipe", "remotedisconnected", "eof")),
)
_TYPE_KINDS = (  # exception class names of requests, urllib3, botocore, azure-core
    (TLS, ("SSLError", "SSLCertVerificationError", "CertificateError")),
    (DNS, ("NameResolutionError", "gaierror")),
    (TIMED_OUT, ("ConnectTimeout", "ConnectTimeoutError", "ReadTimeout", "ReadTimeoutError", "Timeout",
                 "TimeoutError", "DeadlineExceeded")),
    (CLOSED, ("ConnectionClosedError", "RemoteDisconnected", "ConnectionResetError", "ConnectionAbortedError",
              "IncompleteRead", "ProtocolError")),
)


def endpoint_label(address: Optional[str], default_scheme: str = "https") -> str:
    """``scheme://host:port`` of ``address``, never its user, password, path or query."""
    text = str(address or "").strip()
    if not text:
        return "(no address)"
    try:
        parts = urlsplit(text if "://" in text else f"{default_scheme}://{text}")
        scheme = (parts.scheme or default_scheme).lower()
        host = parts.hostname or ""
        port = parts.port or _DEFAULT_PORTS.get(scheme)
    except ValueError:
        return "(an address that cannot be parsed)"
    if not host:
        return "(an address with no host)"
    if ":" in host:
        host = f"[{host}]"
    return f"{scheme}://{host}:{port}" if port else f"{scheme}://{host}"


def _chain(exc: BaseException) -> Iterator[Any]:
    """``exc`` and every exception (or urllib3 pool/connection) it wraps, each once."""
    seen: List[int] = []
    pending: List[Any] = [exc]
    while pending and len(seen) < 40:
        item = pending.pop(0)
        if item is None or id(item) in seen:
            continue
        seen.append(id(item))
        yield item
        if not isinstance(item, BaseException):
            continue
        pending.extend([item.__cause__, item.__context__])
        pending.extend(arg for arg in getattr(item, "args", ()) if isinstance(arg, BaseException))
        for attribute in ("reason", "inner_exception", "exc", "error", "original_error", "_exc"):
            value = getattr(item, attribute, None)
            if isinstance(value, BaseException):
                pending.append(value)
        kwargs = getattr(item, "kwargs", None)  # botocore keeps the cause in kwargs["error"]
        if isinstance(kwargs, dict) and isinstance(kwargs.get("error"), BaseException):
            pending.append(kwargs["error"])


def caused_by(exc: BaseException, types: Any) -> Optional[BaseException]:
    """The first exception of ``types`` in ``exc``'s chain (``exc`` included), or None."""
    return next((item for item in _chain(exc) if isinstance(item, types)), None)


def network_failure(exc: BaseException) -> str:
    """What kind of failure ``exc`` is: refused, timed out, TLS, DNS, closed, or a network error."""
    import socket  # here, not at the top: only a failure pays for importing ssl
    import ssl

    chain = [item for item in _chain(exc) if isinstance(item, BaseException)]
    for item in chain:
        if isinstance(item, ssl.SSLError):
            return TLS
        if isinstance(item, socket.gaierror):
            return DNS
        if isinstance(item, ConnectionRefusedError) or getattr(item, "errno", None) == errno.ECONNREFUSED:
            return REFUSED
    names = [type(item).__name__ for item in chain]
    for kind, words in _TYPE_KINDS:
        if any(name in words for name in names):
            return kind
    texts = " | ".join(str(item) for item in chain).lower()
    for kind, words in _TEXT_KINDS:
        if any(word in texts for word in words):
            return kind
    if any(isinstance(item, TimeoutError) for item in chain):
        return TIMED_OUT
    return NETWORK


def tried_endpoint(exc: BaseException, fallback: Optional[str], default_scheme: str = "https") -> str:
    """The endpoint the failed request went to, from the exception chain when it says (a sign-in
    endpoint is not the vault), else ``fallback``; always through endpoint_label."""
    for item in _chain(exc):
        request = getattr(item, "request", None)
        url = getattr(request, "url", None)
        if isinstance(url, str) and "://" in url:
            return endpoint_label(url, default_scheme)
        kwargs = getattr(item, "kwargs", None)
        if isinstance(kwargs, dict):
            for key in ("proxy_url", "endpoint_url"):
                if isinstance(kwargs.get(key), str):
                    return endpoint_label(kwargs[key], default_scheme)
        pool = getattr(item, "conn", None) or getattr(item, "pool", None)  # urllib3: a connection, or its pool
        host, port = getattr(pool, "host", None), getattr(pool, "port", None)
        if isinstance(host, str) and host:
            scheme = getattr(pool, "scheme", None) or ("https" if "HTTPS" in type(pool).__name__ else "http")
            return endpoint_label(f"{scheme}://{host}{':' + str(port) if port else ''}", default_scheme)
    return endpoint_label(fallback, default_scheme)


_NEXT_STEP = {
    REFUSED: "Nothing accepts connections there: check {address} and that the service is running",
    TIMED_OUT: "No answer came back in time: check the network, firewall or proxy on the way, and {address}",
    TLS: "The server's certificate is not trusted or the endpoint does not speak TLS: check {address} and {ca}",
    DNS: "The host name does not resolve: check the spelling in {address}, and DNS or /etc/hosts on this host",
    CLOSED: "The connection was cut before an answer (a restarting server or a proxy): check {address}",
    NETWORK: "Check {address} and the network on the way",
}


def unreachable(service: str, endpoint: str, exc: BaseException, *, address: str, ca: str = "the CA bundle",
                provider: Optional[str] = None, provider_name: Optional[str] = None,
                failure: Optional[str] = None) -> ProviderUnreachable:
    """The error for a request to ``service`` at ``endpoint`` (already an endpoint_label) that got no answer.

    ``address`` names the option(s) that set the endpoint, ``ca`` the one that sets trusted CAs. The
    SDK's own text is never quoted: it may hold a full URL with its query string.
    """
    kind = failure or network_failure(exc)
    return ProviderUnreachable(
        f"cannot reach {service} at {endpoint}: {kind}",
        endpoint=endpoint,
        failure=kind,
        retryable=kind not in (TLS, DNS),
        provider=provider,
        provider_name=provider_name,
        hint=_NEXT_STEP[kind].format(address=address, ca=ca),
    )

"""Check a client endpoint string before connecting, with a one-line reason.

Twisted's parser reports a bad ``tcp:`` string with Python internals
(``OverflowError`` for port 99999, ``TCP4ClientEndpoint.__init__() missing 1 required
positional argument``); users should read "port must be 1-65535, not '99999'".  The
``tcp``/``tcp6`` forms are checked here field by field; other types (``unix:``,
``ssl:``...) are handed to Twisted's parser and only its ``ValueError`` text is kept.
"""

from __future__ import annotations

import re

__all__ = ["check_client_endpoint"]

_COLON = re.compile(r"(?<!\\):")


def check_client_endpoint(
    endpoint: str, error: type[Exception], option: str = "--endpoint"
) -> tuple[str, int] | None:
    """Return ``(host, port)`` for ``tcp``/``tcp6`` strings, ``None`` for other types.

    Raises ``error(message)`` naming ``option`` and the value when the string is wrong.
    """
    fields = _COLON.split(endpoint)
    kind = fields[0].lower()
    if kind in ("tcp", "tcp6"):
        positional = [f for f in fields[1:] if "=" not in f]
        named = dict(f.split("=", 1) for f in fields[1:] if "=" in f)
        host = named.pop("host", None)
        port = named.pop("port", None)
        if host is None and positional:
            host = positional.pop(0)
        if port is None and positional:
            port = positional.pop(0)
        if not host or port is None:
            raise error(f"{option} {endpoint!r}: expected {kind}:HOST:PORT")
        if not port.isdigit() or not 1 <= int(port) <= 65535:
            raise error(f"{option} {endpoint!r}: port must be 1-65535, not {port!r}")
        unknown = sorted(set(named) - {"timeout", "bindAddress"})
        if unknown or positional[2:]:
            what = ", ".join(unknown) or ":".join(positional[2:])
            raise error(f"{option} {endpoint!r}: unknown {kind} parameter {what!r}")
        return host.replace("\\:", ":"), int(port)
    from twisted.internet import endpoints, reactor

    try:
        endpoints.clientFromString(reactor, endpoint)
    except ValueError as exc:
        raise error(f"{option} {endpoint!r}: {exc}") from None
    except Exception:  # TypeError, KeyError...: Twisted internals, not worth showing
        raise error(
            f"{option} {endpoint!r} is not a client endpoint (e.g. tcp:HOST:PORT or "
            f"unix:PATH)"
        ) from None
    return None

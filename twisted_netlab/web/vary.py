"""Add tokens to ``Vary`` without clobbering what another layer put there.

The static resource, the CORS wrapper, the setter and the proxy all vary responses;
each adds its own field values and none overwrites the others.
"""

from __future__ import annotations

from twisted.web.iweb import IRequest

from twisted_netlab.http.tokens import split_list


def _tokens(values: tuple[str | bytes, ...] | list[str | bytes]) -> list[str]:
    out: list[str] = []
    for value in values:
        text = value.decode("latin-1") if isinstance(value, bytes) else value
        out.extend(split_list(text))
    return out


def add_vary(request: IRequest, *values: str | bytes) -> None:
    """Merge ``values`` (tokens or whole comma-separated field values) into ``Vary``.

    ``*`` anywhere wins: the response varies on everything (RFC 9110 12.5.5).
    """
    current = _tokens(request.responseHeaders.getRawHeaders(b"vary", []))
    if "*" in current:
        return
    new = _tokens(values)
    if "*" in new:
        request.responseHeaders.setRawHeaders(b"vary", [b"*"])
        return
    lowered = {t.lower() for t in current}
    for token in new:
        if token.lower() not in lowered:
            current.append(token)
            lowered.add(token.lower())
    if current:
        request.responseHeaders.setRawHeaders(b"vary", [", ".join(current).encode("latin-1")])

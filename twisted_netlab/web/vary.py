"""Add tokens to ``Vary`` without clobbering what another layer put there.

The static resource, the CORS wrapper and the proxy all vary responses; each adds its
own token and none overwrites the others.
"""

from __future__ import annotations

from twisted.web.iweb import IRequest


def add_vary(request: IRequest, *tokens: str) -> None:
    current: list[str] = []
    for value in request.responseHeaders.getRawHeaders(b"vary", []):
        text = value.decode("latin-1") if isinstance(value, bytes) else value
        current.extend(t.strip() for t in text.split(",") if t.strip())
    if "*" in current:
        return
    lowered = {t.lower() for t in current}
    for token in tokens:
        if token.lower() not in lowered:
            current.append(token)
            lowered.add(token.lower())
    if current:
        request.responseHeaders.setRawHeaders(b"vary", [", ".join(current).encode("latin-1")])

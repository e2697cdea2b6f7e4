"""The banner the short commands print when they are serving.

Why: a server that starts silently leaves the user guessing the URL (and, with
``-p 0``, the port), the folder, and which of a dozen options took effect. The banner
says each once, before the first request line: every URL with the real port (clickable
in a terminal), the folder, the features that are on (proxy mounts with their
upstreams, CORS origins, tools and their URL, hotlink rules, TLS and the certificate
fingerprint to compare with the browser's, workers, metrics, the proxy cache when the
config has one), where requests are logged, and how to stop.

Pure formatting from typed values (configs and addresses): the command line owns the
option names and hands over what they decided.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from twisted.internet.address import IPv4Address, IPv6Address, UNIXAddress
from twisted.internet.interfaces import IAddress

from twisted_netlab.scale import ScaleConfig
from twisted_netlab.tcp.config import EchoConfig
from twisted_netlab.tls_options import TLSConfig
from twisted_netlab.web.config import WebConfig

__all__ = ["Listener", "banner_lines", "listener_url"]

STOP = "Ctrl-C to stop"
_ANY = {"0.0.0.0": ("127.0.0.1", "every IPv4 interface"), "::": ("::1", "every interface")}


@dataclass(frozen=True)
class Listener:
    """One listening endpoint: its description, what it serves, where it really is.

    ``address`` is the bound address (the real port for ``tcp:0``), or None when this
    process did not open it (workers adopt the sockets of their supervisor).
    """

    description: str
    role: str  # "web" or "tcp"
    address: IAddress | None


def _configured(description: str) -> tuple[str, str | None]:
    """(host, port) as written in a ``tcp:PORT:interface=HOST`` description."""
    fields = description.split(":")
    port = next((f for f in fields[1:] if f.isdigit()), None)
    host = "127.0.0.1"
    for field in description.replace("\\:", "\0").split(":"):
        if field.startswith("interface="):
            host = field.removeprefix("interface=").replace("\0", ":")
    return host, port


def listener_url(listener: Listener, *, tls: bool) -> tuple[str, str]:
    """(where, note): ``http(s)://host:port/`` for the web, ``host:port`` for TCP."""
    kind = listener.description.split(":", 1)[0].strip().lower()
    address = listener.address
    if isinstance(address, UNIXAddress) or kind == "unix":
        name = address.name if isinstance(address, UNIXAddress) else None
        path = name.decode("utf-8", "replace") if isinstance(name, bytes) else name
        return f"unix:{path or listener.description.split(':', 1)[1]}", ""
    if isinstance(address, (IPv4Address, IPv6Address)):
        host, port = address.host, str(address.port)
    else:
        host, port = _configured(listener.description)
        port = port or "?"
    host, note = _ANY.get(host, (host, ""))
    if ":" in host:
        host = f"[{host}]"
    if listener.role != "web":
        return f"{host}:{port}", note
    scheme = "https" if tls or kind == "ssl" else "http"
    return f"{scheme}://{host}:{port}/", note


def _bold(text: str, colour: bool) -> str:
    return f"\x1b[1m{text}\x1b[0m" if colour else text


def banner_lines(
    prog: str,
    listeners: Sequence[Listener],
    *,
    web: WebConfig | None = None,
    echo: EchoConfig | None = None,
    tls: TLSConfig | None = None,
    scale: ScaleConfig | None = None,
    colour: bool = False,
) -> list[str]:
    """The banner, one string per line (no newlines)."""
    lines: list[str] = []
    web_urls: list[str] = []
    title = f"{prog}: serving {web.static.root}" if web is not None else f"{prog}: TCP echo"
    lines.append(_bold(title, colour))
    for listener in listeners:
        where, note = listener_url(listener, tls=tls is not None)
        if listener.role == "web":
            web_urls.append(where)
            label = "web"
        else:
            label = "tcp echo"
        suffix = f"  ({note})" if note else ""
        lines.append(f"  {label + ':':<10}{_bold(where, colour)}{suffix}")
    if tls is not None:
        kind = "self-signed certificate" if tls.material.self_signed else "certificate"
        lines.append(f"  {'tls:':<10}{kind} {tls.material.cert_path}")
        lines.append(f"  {'':<10}SHA-256 {tls.material.fingerprint}")
    if echo is not None:
        lines.append(f"  {'framing:':<10}{echo.framing}, frames up to {echo.max_frame} bytes")
    if web is not None:
        lines.extend(_web_features(web, web_urls[0] if web_urls else None))
    if scale is not None:
        if scale.workers > 1:
            lines.append(f"  {'workers:':<10}{scale.workers} processes share the ports")
        if scale.metrics:
            lines.append(f"  {'metrics:':<10}/metrics and /healthz on {scale.metrics}")
    lines.append(STOP)
    return lines


def _web_features(web: WebConfig, base: str | None) -> list[str]:
    lines: list[str] = []
    static = web.static
    listing = "on" if static.listing else "off"
    extras = [name for name, on in (("spa", static.spa), ("explain", static.explain),
                                    ("dev: no-cache", static.facts.policy.dev)) if on]
    lines.append(f"  {'files:':<10}listing {listing}" + "".join(f", {e}" for e in extras))
    for mount in web.proxy.mounts:
        lines.append(f"  {'proxy:':<10}{mount.prefix} -> {mount.upstream}")
    cache = web.proxy.cache
    if cache.enabled and web.proxy.mounts:
        where = (
            f", bodies over {cache.disk_threshold} B in {cache.directory}"
            if cache.directory else ""
        )
        lines.append(f"  {'cache:':<10}proxy cache on ({cache.memory_bytes} B in memory{where})")
    if web.cors is not None:
        origins = ", ".join(sorted(web.cors.origins))
        credentials = " (with credentials)" if web.cors.credentials else ""
        lines.append(f"  {'cors:':<10}{origins}{credentials}")
    if web.hotlink is not None:
        lines.append(f"  {'hotlink:':<10}protected ({web.hotlink.policy.mode.value})")
    if web.tools.enabled:
        where = (base.rstrip("/") + web.tools.prefix) if base else web.tools.prefix
        lines.append(f"  {'tools:':<10}{where}")
    if web.request_log is not None:
        lines.append(f"  {'log:':<10}one line per request below (--quiet: none)")
    if web.access_log:
        target = "stdout" if web.access_log == "-" else web.access_log
        lines.append(f"  {'log:':<10}combined format to {target}")
    return lines

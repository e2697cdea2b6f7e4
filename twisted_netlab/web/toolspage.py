"""HTML for the tools in a browser: the index (what each tool does, a form to try it)
and the inspector's report as tables. Pure functions from data to escaped bytes.

Why HTML only on request: scripts and ``curl`` rely on the JSON, so JSON stays the
answer unless the client prefers ``text/html`` over ``application/json`` by its
``Accept`` q-values (browsers do; ``*/*`` and no ``Accept`` do not).

Why two CSPs: the index shows nothing the client chose, so it gets a strict policy
that still lets its forms submit (``form-action 'self'``); ``sandbox`` would block
form submission, because a sandbox without ``allow-forms`` refuses it. The inspector
page echoes request data (escaped, but still the client's), so it keeps ``sandbox``,
as every tool response with client-chosen content does; it has no forms to lose.
Neither page has a script; the styles are inline.
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping, Sequence
from typing import Any

from twisted_netlab.web.listing_assets import STYLE
from twisted_netlab.web.listing_page import package_version

__all__ = [
    "INDEX_CSP", "INSPECT_CSP", "TOOL_HELP", "prefers_html", "render_index",
    "render_inspection",
]

INDEX_CSP = (
    b"default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
    b"base-uri 'none'; frame-ancestors 'none'"
)
INSPECT_CSP = b"sandbox; default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'"

_FORM_STYLE = """
section{border:1px solid var(--line);border-radius:6px;padding:.2rem 1rem 1rem;margin:0 0 1rem}
h2{font-size:1.05rem;margin:.8rem 0 .3rem}h2 code{font-size:1em}
form{display:flex;flex-wrap:wrap;gap:.5rem;align-items:end;margin-top:.6rem}
label{display:flex;flex-direction:column;font-size:.85rem;color:var(--mute)}
input,select,textarea,button{font:inherit;color:var(--fg);background:var(--bg);
border:1px solid var(--line);border-radius:4px;padding:.3rem .45rem}
button{background:var(--head);cursor:pointer}
pre{white-space:pre-wrap;word-break:break-all;margin:0}
td{overflow-wrap:anywhere}td.k{width:14rem;color:var(--mute);vertical-align:top;overflow-wrap:normal}
"""

# name -> (what it does, example query or suffix)
TOOL_HELP: dict[str, str] = {
    "inspect": "Echoes the request as it arrived: method, URI, query, every header in "
               "order, client and server addresses, and the body (forms, JSON and "
               "multipart are parsed). Any method, any subpath.",
    "status": "Answers with the status code in the path: status/418.",
    "response-headers": "Sets each query parameter as a response header "
                        "(response-headers?X-Demo=hello) and echoes them as JSON.",
    "cookies": "Shows the cookies the browser sent; cookies/set?name=value sets, "
               "cookies/delete?name removes, both redirect back here.",
    "redirect-to": "Redirects to url (relative or http(s)) with status_code "
                   "(302 by default; 300-308).",
    "response": "Builds a whole response: status, content_type, body and repeatable "
                "header=Name: value.",
}


def _q_for(accept: str, wanted: str) -> float:
    """The q-value ``accept`` gives ``wanted``, using the most specific matching range."""
    main = wanted.split("/", 1)[0]
    best: tuple[int, float] = (-1, 0.0)
    for item in accept.split(","):
        media, *params = (part.strip() for part in item.split(";"))
        media = media.lower()
        q = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = min(max(float(value), 0.0), 1.0)
                except ValueError:
                    q = 0.0
        specificity = (
            2 if media == wanted else 1 if media == main + "/*" else 0 if media == "*/*" else -1
        )
        if specificity > best[0]:
            best = (specificity, q)
    return best[1]


def prefers_html(accept: bytes | None) -> bool:
    """True when the client ranks ``text/html`` above ``application/json``."""
    if not accept:
        return False
    text = accept.decode("latin-1")
    return _q_for(text, "text/html") > _q_for(text, "application/json")


def _page(title: str, body: str) -> bytes:
    page = (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        '<meta name="color-scheme" content="light dark">'
        f"<title>{html.escape(title)}</title><style>{STYLE}{_FORM_STYLE}</style></head>"
        f"<body><main>{body}<footer>twisted-netlab {html.escape(package_version())} \u00b7 "
        "ask with <code>Accept: application/json</code> for JSON</footer></main></body></html>\n"
    )
    return page.encode("utf-8")


def _field(label: str, name: str, value: str = "", *, size: int = 18) -> str:
    return (
        f'<label>{html.escape(label)}<input name="{html.escape(name, quote=True)}" '
        f'value="{html.escape(value, quote=True)}" size="{size}"></label>'
    )


def _forms(name: str, href: str) -> str:
    """The try-it part of one tool: forms (GET) whose fields are the tool's parameters."""
    a = html.escape(href, quote=True)
    go = '<button type="submit">Try it</button>'
    if name == "inspect":
        return (
            f'<form method="get" action="{a}">{_field("name", "name", "value")}{go}</form>'
            f'<form method="post" action="{a}"><label>form body (POST)'
            '<textarea name="message" rows="2" cols="30">hello</textarea></label>'
            '<button type="submit">POST it</button></form>'
        )
    if name == "status":
        links = " ".join(
            f'<a href="{a}/{code}">{code}</a>' for code in (200, 201, 204, 301, 404, 418, 500, 503)
        )
        return f"<p>Try: {links}</p>"
    if name == "response-headers":
        return (
            f'<form method="get" action="{a}">{_field("X-Demo", "X-Demo", "hello")}'
            f'{_field("Cache-Control", "Cache-Control", "no-store")}{go}</form>'
        )
    if name == "cookies":
        return (
            f'<p><a href="{a}">show my cookies</a> \u00b7 '
            f'<a href="{a}/delete?demo">delete demo</a></p>'
            f'<form method="get" action="{a}/set">{_field("demo", "demo", "42")}'
            '<button type="submit">Set cookie</button></form>'
        )
    if name == "redirect-to":
        options = "".join(f"<option>{c}</option>" for c in (302, 301, 303, 307, 308))
        return (
            f'<form method="get" action="{a}">{_field("url", "url", "/", size=28)}'
            f'<label>status_code<select name="status_code">{options}</select></label>{go}</form>'
        )
    if name == "response":
        return (
            f'<form method="get" action="{a}">{_field("status", "status", "200", size=5)}'
            f'{_field("content_type", "content_type", "text/plain; charset=utf-8")}'
            f'{_field("body", "body", "hello")}{_field("header", "header", "X-Demo: 1")}'
            f"{go}</form>"
        )
    return ""


def render_index(tools: Mapping[str, str]) -> bytes:
    """``tools`` maps each tool name to its absolute path (``/_netlab/inspect``)."""
    sections = []
    for name, href in tools.items():
        help_text = html.escape(TOOL_HELP.get(name, ""))
        sections.append(
            f'<section id="{html.escape(name, quote=True)}"><h2><a href="'
            f'{html.escape(href, quote=True)}"><code>{html.escape(href)}</code></a></h2>'
            f"<p>{help_text}</p>{_forms(name, href)}</section>"
        )
    body = (
        "<h1>Request tools</h1><p class=\"mute\">Everything here answers with JSON to "
        "scripts and curl; the forms below send plain GET or POST requests.</p>"
        + "".join(sections)
    )
    return _page("netlab request tools", body)


def _cell(value: Any) -> str:
    if isinstance(value, str):
        return html.escape(value)
    return f"<pre>{html.escape(json.dumps(value, ensure_ascii=False, indent=1))}</pre>"


def _table(caption: str, rows: Sequence[tuple[str, Any]]) -> str:
    if not rows:
        return f"<h2>{html.escape(caption)}</h2><p class=\"mute\">none</p>"
    body = "".join(
        f'<tr><td class="k">{html.escape(k)}</td><td>{_cell(v)}</td></tr>' for k, v in rows
    )
    return f"<h2>{html.escape(caption)}</h2><table><tbody>{body}</tbody></table>"


def _address(addr: Mapping[str, Any]) -> str:
    if "host" in addr:
        return f"{addr['host']}:{addr['port']}"
    return str(addr.get("name", ""))


def render_inspection(report: Mapping[str, Any]) -> bytes:
    """The inspector's JSON report (``tools.inspect_request``) as readable tables."""
    request_rows = [
        ("method", str(report.get("method", ""))),
        ("uri", str(report.get("uri", ""))),
        ("http version", str(report.get("http_version", ""))),
        ("client", _address(report.get("client", {}))),
        ("server", _address(report.get("server", {}))),
        ("tls", "yes" if report.get("tls") else "no"),
    ]
    query = report.get("query")
    query_rows: list[tuple[str, Any]] = []
    if isinstance(query, Mapping):
        for key, values in query.items():
            for value in values if isinstance(values, list) else [values]:
                query_rows.append((str(key), value))
    elif report.get("query_raw"):
        query_rows = [("raw", str(report["query_raw"]))]
    headers = [(str(n), str(v)) for n, v in report.get("headers", [])]
    body = report.get("body") or {}
    body_rows = [(str(k), v) for k, v in body.items()] if isinstance(body, Mapping) else []
    content = (
        f"<h1>Request inspector</h1><p class=\"mute\">{html.escape(str(report.get('method', '')))} "
        f"{html.escape(str(report.get('uri', '')))}</p>"
        + _table("Request", request_rows)
        + _table(f"Headers ({len(headers)})", headers)
        + _table("Query", query_rows)
        + _table("Body", body_rows)
    )
    return _page("netlab inspector", content)

"""The listing page's inline assets: one stylesheet and a sprite of SVG icons.

Everything is inline so the page needs no second request, works offline and under a
strict ``Content-Security-Policy`` that allows only inline styles. Icons are SVG
``<symbol>`` elements defined once per page and referenced by ``<use href="#...">``
from each row, so a 10,000-entry listing repeats a few bytes per row, not a drawing;
emoji would depend on the viewer's fonts.
"""

from __future__ import annotations

__all__ = ["SPRITE", "STYLE", "icon_for"]

STYLE = """
:root{color-scheme:light dark;--bg:#fff;--fg:#1f2328;--mute:#656d76;--line:#d8dee4;
--head:#f6f8fa;--link:#0969da;--hover:#f3f6fa;--dir:#54aeff;--file:#8c959f}
@media (prefers-color-scheme:dark){:root{--bg:#0d1117;--fg:#e6edf3;--mute:#9198a1;
--line:#30363d;--head:#161b22;--link:#58a6ff;--hover:#161b22;--dir:#54aeff;--file:#8b949e}}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--fg);
font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans",sans-serif}
main{max-width:70rem;margin:0 auto;padding:1rem}
h1{font-size:1.25rem;font-weight:600;margin:.25rem 0 1rem;word-break:break-all}
h1 a{color:var(--link);text-decoration:none}h1 a:hover{text-decoration:underline}
h1 .sep{color:var(--mute);padding:0 .2em}
a{color:var(--link)}
table{width:100%;border-collapse:collapse}
th,td{padding:.35rem .6rem;border-bottom:1px solid var(--line);text-align:left}
th{background:var(--head);position:sticky;top:0;font-weight:600;white-space:nowrap}
th a{color:inherit;text-decoration:none}th a:hover{text-decoration:underline}
th.num,td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
td.name{word-break:break-all}
td.name a{text-decoration:none}td.name a:hover{text-decoration:underline}
tbody tr:hover{background:var(--hover)}
svg.i{width:1.1em;height:1.1em;vertical-align:-.2em;margin-right:.45em;fill:var(--file)}
svg.i.dir{fill:var(--dir)}
.mute{color:var(--mute)}
footer{color:var(--mute);font-size:.85rem;margin-top:1rem;border-top:1px solid var(--line);
padding-top:.6rem}
code{font-size:.9em}
@media (max-width:40rem){.mod{display:none}main{padding:.5rem}th,td{padding:.3rem .35rem}}
"""

# 16x16 outlines; paths kept short on purpose.
_SYMBOLS = {
    "dir": "M1 3.5A1.5 1.5 0 0 1 2.5 2h3.6l1.6 1.6h5.8A1.5 1.5 0 0 1 15 5.1v7.4a1.5 1.5 0 "
    "0 1-1.5 1.5h-11A1.5 1.5 0 0 1 1 12.5z",
    "up": "M8 2 3 7h3v6h4V7h3z",
    "file": "M3 1h6l4 4v10H3zm6 0v4h4",
    "text": "M3 1h6l4 4v10H3zm2 6h6v1H5zm0 2h6v1H5zm0 2h4v1H5z",
    "image": "M1 3h14v10H1zm2 8h10l-3-4-2 2.5L6.5 8z",
    "audio": "M6 2l8-1.5v10a2 2 0 1 1-1.5-1.9V4L7.5 5v7a2 2 0 1 1-1.5-1.9z",
    "video": "M1 3h10v10H1zm10 3.5 4-2.5v8l-4-2.5z",
    "archive": "M2 1h12v14H2zm5 1v2h2V2zm0 3v2h2V5zm0 3v3h2V8z",
    "code": "M5.5 4 1.5 8l4 4 1-1-3-3 3-3zm5 0-1 1 3 3-3 3 1 1 4-4z",
}

SPRITE = (
    '<svg xmlns="http://www.w3.org/2000/svg" style="display:none">'
    + "".join(
        f'<symbol id="i-{name}" viewBox="0 0 16 16"><path d="{d}"/></symbol>'
        for name, d in _SYMBOLS.items()
    )
    + "</svg>"
)

_KINDS = {
    "image": "png jpg jpeg gif webp avif svg ico bmp tif tiff heic",
    "audio": "mp3 ogg oga opus wav flac m4a aac",
    "video": "mp4 m4v webm mkv mov avi ogv",
    "archive": "zip gz tgz bz2 xz zst 7z rar tar deb rpm whl jar iso",
    "code": "py js mjs ts tsx jsx css html htm json xml yaml yml toml sh c h cc cpp rs go "
    "java rb php lua sql cfg ini",
    "text": "txt md rst csv log pdf tex rtf",
}
_BY_EXTENSION = {ext: kind for kind, exts in _KINDS.items() for ext in exts.split()}


def icon_for(name: str, is_dir: bool) -> str:
    """The ``<svg>`` reference for one row: a folder, or a kind guessed from the suffix."""
    if is_dir:
        return '<svg class="i dir" aria-hidden="true"><use href="#i-dir"/></svg>'
    _, dot, ext = name.rpartition(".")
    kind = _BY_EXTENSION.get(ext.lower(), "file") if dot else "file"
    return f'<svg class="i" aria-hidden="true"><use href="#i-{kind}"/></svg>'

"""``netlab-sign``: mint a signed, expiring link for a file served by netlab-web.

    netlab-sign --key KID=SECRET [--base-url http://127.0.0.1:8080]
                [--expires-in 3600 | --expires-at UNIX] [--prefix /media/] PATH

PATH (and ``--prefix``) is a URL path: it may be typed as the file is named
(``/media/a b.png``) or as it appears in a URL (``/media/a%20b.png``). Either way it is
percent-decoded exactly once, as the server decodes a request, and re-encoded
canonically in the printed link; so a name with a literal ``%`` followed by two hex
digits must be written encoded (``100%2541.txt`` for ``100%41.txt``).

The key may also come from ``--key-file FILE`` (``KID=SECRET`` lines; ``--key-id``
picks one, default the first) or the ``NETLAB_SIGN_KEY`` environment variable, so the
secret need not show in ``ps``. Prints the URL; exit status 2 on a usage error.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Sequence
from typing import NoReturn
from urllib.parse import unquote

import hyperlink

from twisted_netlab.http.hotlink import HotlinkConfigError, mint_url, parse_key_spec

__all__ = ["main"]

DEFAULT_BASE_URL = "http://127.0.0.1:8080"


HINT = "run with --help for the options"


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (no usage block), with the --help hint."""

    def error(self, message: str) -> NoReturn:
        print(f"{self.prog}: {message}; {HINT}", file=sys.stderr)
        sys.exit(2)


def _parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="netlab-sign", description="Mint a signed, expiring URL for netlab-web."
    )
    p.add_argument("path", metavar="PATH", help="URL path of the file, e.g. /media/a.png")
    keys = p.add_mutually_exclusive_group()
    keys.add_argument("--key", metavar="KID=SECRET", help="signing key (visible in ps)")
    keys.add_argument("--key-file", metavar="FILE", help="file with KID=SECRET lines")
    p.add_argument("--key-id", metavar="KID", help="with --key-file: which key mints")
    p.add_argument("--base-url", default=DEFAULT_BASE_URL, help=f"default {DEFAULT_BASE_URL}")
    when = p.add_mutually_exclusive_group()
    when.add_argument("--expires-in", type=int, metavar="SECONDS", help="default 3600")
    when.add_argument("--expires-at", type=int, metavar="UNIX", help="absolute expiry")
    p.add_argument("--prefix", metavar="PREFIX", help="sign a path prefix instead (e.g. /media/)")
    return p


def _load_key(args: argparse.Namespace) -> tuple[str, bytes]:
    if args.key_file:
        from twisted_netlab.web.hotlink import read_key_file

        pairs = [parse_key_spec(s) for s in read_key_file(args.key_file)]
        if args.key_id is None:
            return pairs[0]
        for kid, secret in pairs:
            if kid == args.key_id:
                return kid, secret
        raise HotlinkConfigError(f"key id {args.key_id!r} is not in {args.key_file!r}")
    spec = args.key or os.environ.get("NETLAB_SIGN_KEY")
    if not spec:
        raise HotlinkConfigError("give --key KID=SECRET, --key-file FILE or NETLAB_SIGN_KEY")
    return parse_key_spec(spec)


def decode_path(option: str, text: str) -> str:
    """``text`` percent-decoded once as UTF-8, as the server decodes a request path.

    Minting from the decoded form is what makes ``/media/a%20b.png`` and
    ``/media/a b.png`` the same link (the encoded form used to be encoded again, to
    ``a%2520b.png``, which the server looked up as a file named ``a%20b.png``).
    """
    try:
        decoded = unquote(text, errors="strict")
    except UnicodeDecodeError:
        raise HotlinkConfigError(f"{option} {text!r}: percent-escapes are not UTF-8") from None
    if "\x00" in decoded or "\\" in decoded:
        raise HotlinkConfigError(f"{option} {text!r}: contains a NUL or a backslash")
    if "/" in text and decoded.count("/") != text.count("/"):
        raise HotlinkConfigError(
            f"{option} {text!r}: %2F (an encoded '/') cannot name a file"
        )
    return decoded


def _base(text: str) -> str:
    try:
        url = hyperlink.URL.from_text(text)
    except hyperlink.URLParseError as exc:
        raise HotlinkConfigError(f"bad --base-url {text!r}: {exc}") from exc
    if url.scheme not in ("http", "https") or not url.host or url.query or url.fragment:
        raise HotlinkConfigError(f"--base-url {text!r}: expected http(s)://host[:port][/path]")
    return text.rstrip("/")


def main(
    argv: Sequence[str] | None = None,
    *,
    now: Callable[[], float] = time.time,
) -> int:
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, or argparse's own usage error
        return exc.code if isinstance(exc.code, int) else 2
    try:
        kid, secret = _load_key(args)
        if args.expires_at is not None:
            expires_at = args.expires_at
        else:
            lifetime = 3600 if args.expires_in is None else args.expires_in
            if lifetime <= 0:
                raise HotlinkConfigError("--expires-in must be a positive number of seconds")
            expires_at = int(now()) + lifetime
        path = decode_path("PATH", args.path)
        prefix = None if args.prefix is None else decode_path("--prefix", args.prefix)
        link = mint_url(path, key_id=kid, secret=secret, expires_at=expires_at, prefix=prefix)
        base = _base(args.base_url)
    except HotlinkConfigError as exc:
        print(f"netlab-sign: {exc}; {HINT}", file=sys.stderr)
        return 2
    print(base + link)
    return 0


if __name__ == "__main__":
    sys.exit(main())

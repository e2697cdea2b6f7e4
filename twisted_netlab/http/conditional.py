"""Conditional requests: RFC 9110 13.2.2 precedence as one pure function.

The order matters and is easy to get wrong, so it is spelled out step by step:

1. If-Match (strong comparison, ``*`` = any current representation) false -> 412.
2. Else, with no If-Match, If-Unmodified-Since (a valid date, a resource with a
   Last-Modified) false -> 412.
3. If-None-Match (weak comparison, lists, ``*``) matched -> 304 for GET/HEAD, 412 otherwise.
4. Else, with no If-None-Match, for GET/HEAD: If-Modified-Since not modified -> 304.
5. Range on GET: honoured only when If-Range is absent or true (a strong ETag match, or
   an HTTP-date exactly equal to the Last-Modified); otherwise the full 200 is sent.

Dates compare at one-second granularity because Last-Modified is sent in whole seconds.
An invalid date is ignored (RFC 9110 13.1.3/13.1.4). A header whose value is empty is
treated as absent. An If-Match whose value contains no valid entity tag can match
nothing, so it fails (412): the client asked for a guarantee we cannot give.
An If-None-Match with no valid tag matches nothing (the full response is sent).

``reason`` is meant for an opt-in explain header: it names the rule that decided and
only ever echoes validated entity tags and re-formatted dates, never raw client text.

Parsing is memoised (``parsed_date``, and the entity-tag lists): a client revalidating
sends the same few validator strings again and again, and parsing an HTTP-date costs
more than answering the request. The memos are bounded in entries and in the length of
what they keep, and hold only what the pure parsers return for that string.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass
from typing import Literal

from twisted_netlab.http.memo import BoundedMemo
from twisted_netlab.http.validators import (
    ETag,
    http_date,
    parse_etag_list,
    parse_http_date,
    strong_match,
    weak_match,
)

__all__ = ["Decision", "Outcome", "evaluate", "none_match", "not_modified_since", "parsed_date"]

_SAFE_METHODS = frozenset({"GET", "HEAD"})
_MEMO_ENTRIES = 256  # distinct validator strings remembered (then forgotten at once)
_MEMO_LENGTH = 128  # longer values are parsed every time, never kept
_MISSING = object()
_dates: BoundedMemo[str, float | None] = BoundedMemo(_MEMO_ENTRIES)
_tag_lists: BoundedMemo[str, list[ETag] | Literal["*"]] = BoundedMemo(_MEMO_ENTRIES)


def parsed_date(value: str) -> float | None:
    """``parse_http_date(value)``, memoised (the same If-Modified-Since comes back from
    every client that fetched the same version)."""
    hit = _dates.get(value, _MISSING)
    if hit is not _MISSING:
        return hit  # type: ignore[return-value]
    date = parse_http_date(value)
    if len(value) <= _MEMO_LENGTH:
        _dates.remember(value, date)
    return date


def _parsed_tags(value: str) -> list[ETag] | Literal["*"]:
    """``parse_etag_list(value)``, memoised like ``parsed_date`` (the list is shared:
    read it, never change it)."""
    hit = _tag_lists.get(value)
    if hit is not None:
        return hit
    tags = parse_etag_list(value)
    if len(value) <= _MEMO_LENGTH:
        _tag_lists.remember(value, tags)
    return tags


def not_modified_since(
    if_modified_since: str, last_modified: float, now: float | None
) -> float | None:
    """Step 4 alone: the If-Modified-Since date when it makes a GET/HEAD "not
    modified", else None (no valid date, a date after ``now``, or modified since).

    The static fast path calls this for a request whose only precondition is
    If-Modified-Since; ``evaluate`` calls it for the same step, so both decide alike.
    """
    value = _present(if_modified_since)
    if value is None:
        return None
    date = parsed_date(value)
    # A date later than ``now`` cannot come from us: treat it as invalid, ignore it.
    if date is None or (now is not None and date > now):
        return None
    return date if _seconds(last_modified) <= _seconds(date) else None


def none_match(if_none_match: str, etag: ETag | None, exists: bool = True) -> str | None:
    """Step 3's comparison alone: what an If-None-Match value matched (``*`` or the
    tag, as text), else None. A value empty after stripping matches nothing here; the
    caller must treat it as absent (``evaluate`` does, and then applies step 4).

    The static fast path memoises this per representation; ``evaluate`` calls it for
    the same step, so both decide alike.
    """
    value = _present(if_none_match)
    if value is None:
        return None
    parsed = _parsed_tags(value)
    if parsed == "*":
        return "*" if exists else None
    if etag is not None and exists:
        hit = next((t for t in parsed if weak_match(t, etag)), None)
        if hit is not None:
            return str(hit)
    return None


class Outcome(enum.Enum):
    PROCEED = "proceed"
    NOT_MODIFIED = "not-modified"
    PRECONDITION_FAILED = "precondition-failed"


@dataclass(frozen=True)
class Decision:
    """What to send; ``honor_range`` is only ever True with PROCEED."""

    outcome: Outcome
    reason: str
    honor_range: bool = False

    @property
    def status(self) -> int | None:
        """304 / 412, or None when the adapter proceeds (200 or 206 by the range rules)."""
        if self.outcome is Outcome.NOT_MODIFIED:
            return 304
        if self.outcome is Outcome.PRECONDITION_FAILED:
            return 412
        return None


def _present(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip()
    return value or None


def _seconds(timestamp: float) -> int:
    return math.floor(timestamp)


def _describe(tags: list[ETag]) -> str:
    shown = ", ".join(str(t) for t in tags[:4])
    if len(tags) > 4:
        shown += ", ..."
    return shown or "no valid entity tag"


def evaluate(
    *,
    method: str,
    etag: ETag | None,
    last_modified: float | None,
    if_match: str | None = None,
    if_none_match: str | None = None,
    if_modified_since: str | None = None,
    if_unmodified_since: str | None = None,
    if_range: str | None = None,
    has_range: bool = False,
    exists: bool = True,
    now: float | None = None,
) -> Decision:
    """Apply RFC 9110 13.2.2 to one request against the selected representation.

    ``exists`` is False when there is no current representation (``*`` then fails
    If-Match and does not match If-None-Match). ``now`` (optional) lets
    If-Modified-Since dates in the future be ignored and makes a date If-Range count
    only when the Last-Modified is strong (at least one second old, RFC 9110 8.8.2.2).
    """
    method = method.upper()
    if_match = _present(if_match)
    if_none_match = _present(if_none_match)
    if_modified_since = _present(if_modified_since)
    if_unmodified_since = _present(if_unmodified_since)
    if_range = _present(if_range)

    # Step 1: If-Match.
    if if_match is not None:
        parsed = _parsed_tags(if_match)
        if parsed == "*":
            if not exists:
                return Decision(
                    Outcome.PRECONDITION_FAILED, "If-Match * failed: no current representation"
                )
        else:
            hit = next(
                (t for t in parsed if etag is not None and exists and strong_match(t, etag)),
                None,
            )
            if hit is None:
                return Decision(
                    Outcome.PRECONDITION_FAILED,
                    f"If-Match failed: {_describe(parsed)} does not strongly match "
                    f"{etag if etag is not None else 'no ETag'}",
                )
    # Step 2: If-Unmodified-Since, only without If-Match.
    elif if_unmodified_since is not None and last_modified is not None and exists:
        date = parsed_date(if_unmodified_since)
        if date is not None and _seconds(last_modified) > _seconds(date):
            return Decision(
                Outcome.PRECONDITION_FAILED,
                f"If-Unmodified-Since failed: modified {http_date(last_modified)} "
                f"after {http_date(date)}",
            )

    # Step 3: If-None-Match.
    if if_none_match is not None:
        matched = none_match(if_none_match, etag, exists)
        if matched is not None:
            if method in _SAFE_METHODS:
                return Decision(Outcome.NOT_MODIFIED, f"If-None-Match matched {matched}")
            return Decision(
                Outcome.PRECONDITION_FAILED,
                f"If-None-Match matched {matched} on {method}",
            )
    # Step 4: If-Modified-Since, only without If-None-Match and for GET/HEAD.
    elif (
        if_modified_since is not None
        and method in _SAFE_METHODS
        and last_modified is not None
        and exists
    ):
        date = not_modified_since(if_modified_since, last_modified, now)
        if date is not None:
            return Decision(
                Outcome.NOT_MODIFIED,
                f"If-Modified-Since: not modified since {http_date(date)}",
            )

    # Step 5: Range and If-Range.
    if not has_range:
        return Decision(Outcome.PROCEED, "preconditions passed; no Range", False)
    if method != "GET":
        return Decision(Outcome.PROCEED, f"Range ignored on {method}", False)
    if if_range is None:
        return Decision(Outcome.PROCEED, "Range honoured (no If-Range)", True)
    return _evaluate_if_range(if_range, etag, last_modified, now)


def _evaluate_if_range(
    if_range: str, etag: ETag | None, last_modified: float | None, now: float | None
) -> Decision:
    if if_range.startswith(('"', "W/")):
        parsed = _parsed_tags(if_range)
        if parsed == "*" or len(parsed) != 1:
            return Decision(Outcome.PROCEED, "If-Range is not one entity tag: full 200", False)
        tag = parsed[0]
        if tag.weak:
            return Decision(
                Outcome.PROCEED, f"If-Range {tag} is weak and never matches: full 200", False
            )
        if etag is not None and strong_match(tag, etag):
            return Decision(Outcome.PROCEED, f"If-Range {tag} matched: Range honoured", True)
        return Decision(
            Outcome.PROCEED,
            f"If-Range {tag} does not match {etag if etag is not None else 'no ETag'}: full 200",
            False,
        )
    date = parsed_date(if_range)
    if date is None:
        return Decision(Outcome.PROCEED, "If-Range is neither an ETag nor a date: full 200", False)
    if last_modified is None:
        return Decision(Outcome.PROCEED, "If-Range date but no Last-Modified: full 200", False)
    if now is not None and now - last_modified < 1:
        return Decision(
            Outcome.PROCEED, "If-Range date against a weak Last-Modified: full 200", False
        )
    if _seconds(last_modified) == _seconds(date):
        return Decision(
            Outcome.PROCEED,
            f"If-Range {http_date(date)} equals Last-Modified: Range honoured",
            True,
        )
    return Decision(
        Outcome.PROCEED,
        f"If-Range {http_date(date)} differs from Last-Modified "
        f"{http_date(last_modified)}: full 200",
        False,
    )

"""Age calculation (RFC 9111 4.2.3), from times the caller passes in.

The upstream's own ``Age`` and the time the request spent in flight both count: a
response that sat 100 s in a parent cache and took 2 s to arrive is at least 102 s old
when we receive it, whatever its Date says. Clocks may disagree, so ``apparent_age``
is clamped at zero and the larger of the two estimates wins.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from twisted_netlab.http.cache.directives import parse_delta
from twisted_netlab.http.cache.fields import Fields, field_values, split_list
from twisted_netlab.http.cache.freshness import single_date

__all__ = ["AgeInputs", "age_inputs", "corrected_initial_age", "current_age", "parse_age"]


def parse_age(values: Iterable[str]) -> int | None:
    """The Age field (RFC 9111 5.1): first list member, non-negative integer, else None.

    A list-valued Age uses its first member; an invalid one is ignored (treated absent).
    """
    members = split_list(values)
    if not members:
        return None
    return parse_delta(members[0])


@dataclass(frozen=True)
class AgeInputs:
    """What 4.2.3 needs, fixed when the response is received.

    ``date_value`` is the response's Date (the receive time if Date was absent or
    invalid), ``age_value`` its Age (0 if absent), ``request_time`` when our request
    went upstream and ``response_time`` when its response head arrived.
    """

    date_value: float
    age_value: int
    request_time: float
    response_time: float


def corrected_initial_age(inputs: AgeInputs) -> float:
    """RFC 9111 4.2.3: max(apparent_age, corrected_age_value) at receipt."""
    apparent_age = max(0.0, inputs.response_time - inputs.date_value)
    response_delay = max(0.0, inputs.response_time - inputs.request_time)
    corrected_age_value = inputs.age_value + response_delay
    return max(apparent_age, corrected_age_value)


def current_age(inputs: AgeInputs, now: float) -> float:
    """corrected_initial_age + resident_time; never negative if the clock steps back."""
    resident_time = max(0.0, now - inputs.response_time)
    return corrected_initial_age(inputs) + resident_time


def age_inputs(headers: Fields, request_time: float, response_time: float) -> AgeInputs:
    """AgeInputs for a response received at ``response_time`` (Date absent/invalid:
    the receive time stands in, as RFC 9110 6.6.1 lets a recipient assume)."""
    date, valid = single_date(headers, "date")
    return AgeInputs(
        date_value=date if date is not None and valid else response_time,
        age_value=parse_age(field_values(headers, "age")) or 0,
        request_time=request_time,
        response_time=response_time,
    )

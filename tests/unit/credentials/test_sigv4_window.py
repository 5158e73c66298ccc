"""The clock window, exactly at its edges, with a fixed clock (no wall time)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sigv4_tamper_helpers import NOW, SECRET, header_signed, query_signed

from broker.clock import FixedClock
from broker.credentials.sigv4 import SignedRequest, parse, verify
from broker.errors import BrokerError, RequestExpired, SignatureDoesNotMatch


def run(request: SignedRequest, clock: FixedClock, skew: int) -> None:
    verify(
        request, parse(request), SECRET, now=clock.now(), skew_seconds=skew, expected_service="sts", normalize_path=True
    )


def fails(request: SignedRequest, clock: FixedClock, skew: int, error: type[BrokerError], message: str) -> None:
    with pytest.raises(error) as caught:
        run(request, clock, skew)
    assert type(caught.value) is error
    assert caught.value.message == message


@pytest.mark.parametrize("skew", [300, 900])
def test_late_boundary_second_accepted_and_one_past_refused(skew: int) -> None:
    clock = FixedClock(NOW + timedelta(seconds=skew))
    run(header_signed(), clock, skew)
    clock.advance(1)
    minutes = skew // 60
    now = clock.now()
    fails(
        header_signed(),
        clock,
        skew,
        SignatureDoesNotMatch,
        f"Signature expired: 20260101T120000Z is now earlier than "
        f"{(now - timedelta(seconds=skew)).strftime('%Y%m%dT%H%M%SZ')} "
        f"({now.strftime('%Y%m%dT%H%M%SZ')} - {minutes} min.)",
    )


def test_late_message_exact_for_15_minutes() -> None:
    clock = FixedClock(NOW + timedelta(minutes=15, seconds=1))
    fails(
        header_signed(),
        clock,
        900,
        SignatureDoesNotMatch,
        "Signature expired: 20260101T120000Z is now earlier than 20260101T120001Z (20260101T121501Z - 15 min.)",
    )


def test_early_boundary_second_accepted_and_one_past_refused() -> None:
    clock = FixedClock(NOW - timedelta(seconds=300))
    run(header_signed(), clock, 300)
    clock.advance(-1)
    fails(
        header_signed(),
        clock,
        300,
        SignatureDoesNotMatch,
        "Signature not yet current: 20260101T120000Z is still later than 20260101T115959Z (20260101T115459Z + 5 min.)",
    )


def test_window_not_whole_minutes_is_in_seconds() -> None:
    clock = FixedClock(NOW + timedelta(seconds=91))
    fails(
        header_signed(),
        clock,
        90,
        SignatureDoesNotMatch,
        "Signature expired: 20260101T120000Z is now earlier than 20260101T120001Z (20260101T120131Z - 90 sec.)",
    )


def test_zero_skew_accepts_only_the_exact_second() -> None:
    run(header_signed(), FixedClock(NOW), 0)
    fails(
        header_signed(),
        FixedClock(NOW + timedelta(seconds=1)),
        0,
        SignatureDoesNotMatch,
        "Signature expired: 20260101T120000Z is now earlier than 20260101T120001Z (20260101T120001Z - 0 min.)",
    )


def test_presigned_expiry_boundary() -> None:
    request = query_signed(expires=60)
    clock = FixedClock(NOW + timedelta(seconds=60))
    run(request, clock, 900)
    clock.advance(1)
    fails(request, clock, 900, RequestExpired, "Request has expired")


def test_presigned_still_bound_by_the_clock_window() -> None:
    # STS applies its clock window even when X-Amz-Expires is longer (aws/aws-sdk-go#2167).
    request = query_signed(expires=3600)
    run(request, FixedClock(NOW + timedelta(seconds=900)), 900)
    fails(
        request,
        FixedClock(NOW + timedelta(seconds=901)),
        900,
        SignatureDoesNotMatch,
        "Signature expired: 20260101T120000Z is now earlier than 20260101T120001Z (20260101T121501Z - 15 min.)",
    )


def test_presigned_from_the_future_is_refused() -> None:
    fails(
        query_signed(),
        FixedClock(NOW - timedelta(seconds=901)),
        900,
        SignatureDoesNotMatch,
        "Signature not yet current: 20260101T120000Z is still later than 20260101T115959Z (20260101T114459Z + 15 min.)",
    )

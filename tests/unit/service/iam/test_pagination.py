"""Marker/MaxItems pagination: pages concatenate to the whole sorted list, markers are opaque and checked."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from broker.errors import InvalidInput
from broker.service.iam.pagination import paginate


@given(st.lists(st.text(min_size=1, max_size=8), unique=True, max_size=40), st.integers(min_value=1, max_value=7))
def test_pages_cover_everything_in_order(items: list[str], size: int) -> None:
    seen: list[str] = []
    params: dict[str, object] = {"MaxItems": size}
    for _ in range(len(items) + 2):
        page, more = paginate(items, lambda s: s, params)
        assert len(page) <= size
        seen += page
        if not more["IsTruncated"]:
            assert "Marker" not in more
            break
        params = {"MaxItems": size, "Marker": more["Marker"]}
    assert seen == sorted(items)


def test_default_page_is_100() -> None:
    page, more = paginate([f"{i:03d}" for i in range(150)], lambda s: s, {})
    assert len(page) == 100 and more["IsTruncated"] is True


def test_marker_of_deleted_item_resumes_after_it() -> None:
    _, more = paginate(["a", "b", "c", "d"], lambda s: s, {"MaxItems": 2})
    page, _ = paginate(["a", "b", "d"], lambda s: s, {"MaxItems": 2, "Marker": more["Marker"]})
    assert page == ["d"]


@pytest.mark.parametrize("marker", ["%%%", "\u00e9"])
def test_bad_marker(marker: str) -> None:
    with pytest.raises(InvalidInput) as err:
        paginate(["a"], lambda s: s, {"Marker": marker})
    assert err.value.message == "Invalid Marker."


@pytest.mark.parametrize("size", [0, 1001])
def test_max_items_range(size: int) -> None:
    with pytest.raises(InvalidInput) as err:
        paginate(["a"], lambda s: s, {"MaxItems": size})
    assert err.value.message == f"MaxItems must be between 1 and 1000, got {size}."

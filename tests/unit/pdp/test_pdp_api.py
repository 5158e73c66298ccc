"""broker.pdp's curated public API: ``__all__`` written by hand, kept in sync with what is importable."""

from __future__ import annotations

import broker.pdp as pdp


def test_all_is_sorted_and_importable() -> None:
    assert list(pdp.__all__) == sorted(pdp.__all__)
    for name in pdp.__all__:
        assert getattr(pdp, name) is not None
    public = {n for n in vars(pdp) if (not n.startswith("_") and n[0].isupper()) or n in ("open_local_pdp",
                                                                                        "parse_question",
                                                                                        "principal_json")}
    modules = {"bearer", "local", "point", "policies", "result", "wire"}
    assert public - modules <= set(pdp.__all__)

"""broker.ids: the table draw equals the general rejection loop; DrawnEntropy hands out each byte once."""

from __future__ import annotations

import random

import pytest

from broker import ids


class Seeded:
    def __init__(self, seed: int) -> None:
        self._rng = random.Random(seed)
        self.calls: list[int] = []

    def token_bytes(self, n: int) -> bytes:
        self.calls.append(n)
        return self._rng.randbytes(n)


class Short(Seeded):
    """Returns fewer bytes than asked (a misbehaving source): the draw must keep drawing like the loop."""

    def token_bytes(self, n: int) -> bytes:
        return super().token_bytes(n)[: max(1, n // 3)]


@pytest.mark.parametrize("alphabet", [ids._ID_ALPHABET, ids._SECRET_ALPHABET])
@pytest.mark.parametrize("length", [1, 16, 17, 40])
@pytest.mark.parametrize("source", [Seeded, Short])
def test_table_draw_equals_rejection_loop(alphabet: str, length: int, source: type[Seeded]) -> None:
    for seed in range(200):
        fast, general = source(seed), source(seed)
        assert ids._draw(alphabet, length, fast) == ids._draw_rejecting(alphabet, length, general)
        assert fast.calls == general.calls  # same bytes consumed from the source


def test_table_draw_covers_every_byte() -> None:
    # Byte b maps to alphabet[b % size], as the loop does; every character reachable.
    for alphabet in (ids._ID_ALPHABET, ids._SECRET_ALPHABET):
        table = ids._TABLES[alphabet]
        assert [chr(table[b]) for b in range(256)] == [alphabet[b % len(alphabet)] for b in range(256)]


def test_public_generators_shapes() -> None:
    assert ids.temporary_access_key_id().startswith("ASIA") and len(ids.temporary_access_key_id()) == 20
    assert len(ids.secret_access_key()) == 40
    assert set(ids.secret_access_key(Seeded(3))) <= set(ids._SECRET_ALPHABET)
    assert set(ids.user_id(Seeded(4))[4:]) <= set(ids._ID_ALPHABET)


def test_drawn_entropy_hands_out_in_order_once() -> None:
    source = Seeded(9)
    reference = random.Random(9).randbytes(40)
    drawn = ids.DrawnEntropy(source, 40)
    assert source.calls == [40]
    parts = [drawn.token_bytes(n) for n in (16, 0, 12, 12)]
    assert b"".join(parts) == reference
    assert source.calls == [40]
    # Exhausted: served by the source itself, never a byte twice.
    more = drawn.token_bytes(8)
    assert source.calls == [40, 8] and len(more) == 8
    assert drawn.token_bytes(1) != b"" and source.calls[-1] == 1
    with pytest.raises(ValueError):
        ids.DrawnEntropy(ids.SystemEntropy(), 4).token_bytes(-1)


def test_drawn_entropy_larger_than_left_is_not_split() -> None:
    source = Seeded(2)
    drawn = ids.DrawnEntropy(source, 10)
    first = drawn.token_bytes(6)
    big = drawn.token_bytes(5)  # 4 left: the whole request comes from the source
    assert len(first) == 6 and len(big) == 5 and source.calls == [10, 5]
    assert drawn.token_bytes(4) == random.Random(2).randbytes(10)[6:10]
    assert "left=0" in repr(drawn)

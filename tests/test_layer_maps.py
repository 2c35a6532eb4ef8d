import pytest

from pkdlib import layer_map, pkd_last, pkd_skip


@pytest.mark.parametrize(
    "n, k, skip, last",
    [(12, 6, [2, 4, 6, 8, 10], [7, 8, 9, 10, 11]), (12, 3, [4, 8], [10, 11]), (6, 3, [2, 4], [4, 5]), (6, 2, [3], [5])],
)
def test_paper_maps(n, k, skip, last):
    assert pkd_skip(n, k) == skip
    assert pkd_last(n, k) == last


def test_non_multiple_spreads_evenly_rounding_down():
    assert pkd_skip(6, 4) == [1, 3, 4]
    assert pkd_skip(6, 5) == [1, 2, 3, 4]
    assert pkd_skip(12, 5) == [2, 4, 7, 9]
    assert pkd_last(6, 4) == [3, 4, 5]


def test_one_layer_student_has_empty_map():
    assert pkd_skip(6, 1) == [] and pkd_last(6, 1) == []


def test_printable():
    assert repr(pkd_skip(12, 6)) == "pkd_skip(12, 6) -> [2, 4, 6, 8, 10]"
    assert str(pkd_last(6, 3)) == "pkd_last(6, 3) -> [4, 5]"
    assert pkd_skip(6, 3).pairs() == [(1, 2), (2, 4)]


def test_by_name():
    assert layer_map("pkd-skip", 12, 6) == [2, 4, 6, 8, 10]
    with pytest.raises(ValueError, match="known"):
        layer_map("pkd-middle", 12, 6)


@pytest.mark.parametrize("n, k", [(6, 6), (6, 7), (6, 0), (6, -1), (1, 1)])
def test_bad_sizes(n, k):
    with pytest.raises(ValueError):
        pkd_skip(n, k)
    with pytest.raises(ValueError):
        pkd_last(n, k)


def test_maps_are_valid_for_all_sizes():
    for n in range(2, 25):
        for k in range(1, n):
            for m in (pkd_skip(n, k), pkd_last(n, k)):
                assert len(m) == k - 1
                assert all(1 <= t <= n - 1 for t in m)
                assert list(m) == sorted(set(m))  # strictly increasing


def test_bottom_map_and_the_method_table():
    from pkdlib.layer_maps import pkd_bottom
    from pkdlib.methods import METHODS

    assert pkd_bottom(12, 6) == [1, 2, 3, 4, 5] and pkd_bottom(6, 3) == [1, 2] and pkd_bottom(6, 1) == []
    assert repr(layer_map("pkd-bottom", 6, 3)) == "pkd_bottom(6, 3) -> [1, 2]"
    for m in METHODS.values():  # every map a method names exists, for every student size
        if m.uses_pt:
            assert len(layer_map(m.layer_map, 6, 3)) == 2

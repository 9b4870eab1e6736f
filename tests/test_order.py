"""The order of an epoch: a permutation set by `(seed, epoch)` alone, and balanced draws."""

import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kdataset.core.order import balanced_order, epoch_order, index_dtype

# -- epoch_order -----------------------------------------------------------------


@settings(max_examples=50, deadline=None)
@given(n=st.integers(20, 300), seed=st.integers(0, 2**31 - 1), epoch=st.integers(0, 100))
def test_each_epoch_and_each_seed_has_its_own_order(n, seed, epoch):
    # 20 rows have 20! orders: two equal by chance would be a broken order, not luck.
    order = epoch_order(n, seed, epoch).tolist()
    assert order != epoch_order(n, seed, epoch + 1).tolist()
    assert order != epoch_order(n, seed + 1, epoch).tolist()
    assert order != list(range(n))


@settings(max_examples=30, deadline=None)
@given(n=st.integers(0, 300), seed=st.integers(0, 2**31 - 1), epoch=st.integers(0, 100))
def test_without_shuffle_every_epoch_is_the_manifest_order(n, seed, epoch):
    order = epoch_order(n, seed, epoch, shuffle=False)
    assert order.tolist() == list(range(n))
    assert order.dtype == index_dtype(n)


def test_the_order_is_independent_of_the_global_random_state():
    expected = epoch_order(100, 3, 2).tolist()
    for global_seed in (0, 1, 12345):
        np.random.seed(global_seed)
        random.seed(global_seed)
        np.random.random(17)  # draws before and between: nothing global is read
        first = epoch_order(100, 3, 2).tolist()
        random.random()
        np.random.permutation(100)
        assert first == epoch_order(100, 3, 2).tolist() == expected


def test_an_order_does_not_depend_on_which_orders_came_before():
    alone = epoch_order(50, 9, 4).tolist()
    for epoch in range(4):
        epoch_order(50, 9, epoch)
        balanced_order(np.arange(50) % 3, 9, epoch)
    assert epoch_order(50, 9, 4).tolist() == alone


def test_row_positions_are_int32_below_two_to_the_31_rows():
    assert index_dtype(0) == index_dtype(2**31 - 1) == np.int32
    assert index_dtype(2**31) == index_dtype(2**40) == np.int64
    assert epoch_order(10, 0, 0).dtype == np.int32


# -- balanced_order ----------------------------------------------------------------


@settings(max_examples=50, deadline=None)
@given(
    sizes=st.lists(st.integers(1, 30), min_size=1, max_size=6),
    seed=st.integers(0, 10_000),
    epoch=st.integers(0, 20),
)
def test_classes_get_n_over_k_draws_and_n_mod_k_of_them_one_more(sizes, seed, epoch):
    class_of = np.repeat(np.arange(len(sizes)), sizes)
    np.random.default_rng(seed).shuffle(class_of)
    n, k = len(class_of), len(sizes)
    counts = np.bincount(class_of[balanced_order(class_of, seed, epoch)], minlength=k)
    base, extra = divmod(n, k)
    assert sorted(counts.tolist()) == [base] * (k - extra) + [base + 1] * extra


@settings(max_examples=50, deadline=None)
@given(
    size=st.integers(1, 20),
    k=st.integers(1, 5),
    seed=st.integers(0, 10_000),
    epoch=st.integers(0, 20),
)
def test_with_classes_of_one_size_a_balanced_epoch_is_every_row_once(size, k, seed, epoch):
    class_of = np.random.default_rng(seed).permutation(np.repeat(np.arange(k), size))
    order = balanced_order(class_of, seed, epoch)
    assert sorted(order.tolist()) == list(range(size * k))


def test_a_class_walks_its_rows_in_a_new_random_order_each_time():
    # 12 rows, 3 classes: 4 draws each an epoch. Class 2 has 8 rows, so it draws
    # half of one permutation of them an epoch: epochs 0 and 1 walk one
    # permutation, epochs 2 and 3 the next one.
    class_of = np.repeat(np.arange(3), [2, 2, 8])

    def drawn(seed, epoch):
        order = balanced_order(class_of, seed, epoch)
        return frozenset(order[class_of[order] == 2].tolist())

    firsts, repeated = set(), 0
    for seed in range(10):
        first, second = drawn(seed, 0), drawn(seed, 1)
        assert len(first) == len(second) == 4
        assert first | second == set(range(4, 12))  # one walk: every row once
        firsts.add(first)
        repeated += drawn(seed, 2) == first  # the next walk: a new permutation
    assert len(firsts) > 5  # not the manifest's order, nor one fixed permutation
    assert repeated <= 2  # by chance 1 in 70 a seed


def test_balanced_draws_are_independent_of_the_global_random_state():
    class_of = np.repeat(np.arange(3), [10, 4, 1])
    expected = balanced_order(class_of, 5, 3).tolist()
    np.random.seed(99)
    random.seed(99)
    assert balanced_order(class_of, 5, 3).tolist() == expected
    np.random.random(5)
    assert balanced_order(class_of, 5, 3).tolist() == expected


def test_a_class_with_no_rows_is_refused_by_its_index():
    with pytest.raises(ValueError, match="every class: class index 1 has no rows"):
        balanced_order(np.array([0, 2, 2, 0]), 0, 0)


def test_no_rows_give_an_empty_balanced_order():
    order = balanced_order(np.zeros(0, np.int64), 0, 0)
    assert order.tolist() == [] and order.dtype == np.int32

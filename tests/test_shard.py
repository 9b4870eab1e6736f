"""Sharding over hosts: disjoint and complete shards, elastic resume, and the id digest."""

import hashlib
import json
import pickle

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kdataset.core.audit import IdDigest, id_hashes
from kdataset.core.order import balanced_order, epoch_order
from kdataset.core.stream import Stream


def _class_of(n, classes, seed):
    """`n` class indices over `classes` classes, every class with rows."""
    classes = min(classes, n)
    rng = np.random.default_rng(seed)
    return rng.permutation(np.arange(n) % classes)


def _hosts(n, batch_size, count, seed=0, **kwargs):
    return [Stream(n, batch_size, seed, shard=(index, count), **kwargs) for index in range(count)]


def _epoch_positions(hosts, epoch):
    """Every host's positions of `epoch`, step by step: `[[host 0, host 1, ...], ...]`."""
    steps = hosts[0].batches_in(epoch)
    return [[h.positions(epoch, k) for h in hosts] for k in range(steps)]


# -- the order is the same as before sharding ---------------------------------


def test_the_order_keeps_its_values_in_int32():
    # Values computed with the int64 code that came before: saved runs depend on them.
    order = epoch_order(20, 3, 0)
    assert order.dtype == np.int32
    assert order.tolist() == [16, 12, 18, 8, 3, 13, 15, 10, 6, 1, 2, 11, 17, 0, 14, 9, 4, 7, 5, 19]
    assert epoch_order(20, 3, 1).tolist()[:6] == [7, 17, 16, 2, 13, 6]
    assert epoch_order(1000, 12345, 7)[:10].tolist() == [
        329, 914, 578, 317, 250, 746, 859, 654, 226, 108,
    ]  # fmt: skip
    assert epoch_order(10**6, 0, 2)[:8].tolist() == [
        163430, 124830, 519189, 125274, 689732, 27236, 518225, 675868,
    ]  # fmt: skip

    def digest(a):
        return hashlib.sha256(np.asarray(a, np.int64).tobytes()).hexdigest()[:16]

    assert digest(epoch_order(10**6, 0, 2)) == "5e37abe7e990c616"
    assert digest(epoch_order(100_003, 2**31 - 1, 5)) == "20cf20aa5f574840"
    class_of = np.arange(30) % 4
    class_of[:10] = 0
    assert balanced_order(class_of, 5, 3).tolist() == [
        24, 15, 22, 11, 5, 17, 27, 11, 21, 0, 23, 14, 12, 9, 18,
        22, 13, 6, 10, 19, 26, 29, 8, 17, 19, 29, 23, 26, 14, 25,
    ]  # fmt: skip
    many = (np.arange(10**5) * 7919) % 97
    assert balanced_order(many, 11, 2).dtype == np.int32
    assert digest(balanced_order(many, 11, 2)) == "a61a98a9485084ec"
    assert epoch_order(7, 0, 0, shuffle=False).tolist() == list(range(7))


# -- shards: disjoint, complete, the same length on every host ------------------


@settings(max_examples=150, deadline=None)
@given(
    n=st.integers(1, 500),
    batch_size=st.integers(1, 17),
    count=st.integers(1, 6),
    shuffle=st.booleans(),
    drop=st.booleans(),
    balanced=st.booleans(),
    seed=st.integers(0, 2**31 - 1),
    epoch=st.integers(0, 3),
)
def test_shards_are_disjoint_and_cover_the_epoch(
    n, batch_size, count, shuffle, drop, balanced, seed, epoch
):
    class_of = _class_of(n, 7, seed) if balanced else None
    hosts = _hosts(
        n, batch_size, count, seed, shuffle=shuffle, drop_remainder=drop, class_of=class_of
    )
    step = batch_size * count
    expected_batches = n // step if drop else -(-n // step)
    assert {h.num_batches for h in hosts} == {expected_batches}
    assert {h.batches_in(epoch) for h in hosts} == {expected_batches}
    if balanced:
        whole = balanced_order(class_of, seed, epoch)
    else:
        whole = epoch_order(n, seed, epoch, shuffle)
    served = []
    for k, step_positions in enumerate(_epoch_positions(hosts, epoch)):
        # A step: consecutive positions of the global order, host after host.
        start = k * step
        assert np.concatenate(step_positions).tolist() == list(range(start, min(start + step, n)))
        for host, positions in zip(hosts, step_positions):
            rows = host.rows(epoch, k)
            np.testing.assert_array_equal(host.order(epoch), whole)  # not the shard count's
            assert rows.tolist() == whole[positions].tolist()
            assert len(rows) <= batch_size and (not drop or len(rows) == batch_size)
            served += positions.tolist()
    kept = n - n % step if drop else n
    assert sorted(served) == list(range(kept))  # disjoint, and every row (but the tail)
    assert len(set(served)) == len(served)


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(1, 200),
    batch_size=st.integers(1, 17),
    shuffle=st.booleans(),
    drop=st.booleans(),
    seed=st.integers(0, 1000),
)
def test_one_shard_is_the_unsharded_stream(n, batch_size, shuffle, drop, seed):
    stream = Stream(n, batch_size, seed, shuffle, drop, shard=(0, 1))
    plain = Stream(n, batch_size, seed, shuffle, drop)
    expected = n // batch_size if drop else -(-n // batch_size)
    assert stream.num_batches == plain.num_batches == expected
    if expected == 0:
        return  # no batch at all: the dataset refuses this up front
    for epoch in range(2):
        order = epoch_order(n, seed, epoch, shuffle).tolist()
        for i in range(expected):
            assert stream.rows(epoch, i).tolist() == order[i * batch_size : (i + 1) * batch_size]
            start = i * batch_size
            assert stream.positions(epoch, i).tolist() == list(
                range(start, min(start + batch_size, n))
            )
    keys = [stream.next() for _ in range(2 * expected + 1)]
    assert keys == [plain.next() for _ in range(2 * expected + 1)]
    assert keys == [(e, i) for e in range(3) for i in range(expected)][: len(keys)]
    assert stream.get_state() == plain.get_state()


def test_the_last_step_leaves_some_hosts_short_or_empty():
    hosts = _hosts(10, 2, 4, shuffle=False)  # steps of 8 rows: 8, then 2
    assert [h.num_batches for h in hosts] == [2, 2, 2, 2]
    assert [h.rows(0, 1).tolist() for h in hosts] == [[8, 9], [], [], []]
    assert [len(h.positions(0, 1)) for h in hosts] == [2, 0, 0, 0]
    dropped = _hosts(10, 2, 4, shuffle=False, drop_remainder=True)
    assert [h.num_batches for h in dropped] == [1, 1, 1, 1]  # rows 8 and 9 are left out
    assert [h.rows(0, 0).tolist() for h in dropped] == [[0, 1], [2, 3], [4, 5], [6, 7]]


def test_a_sample_has_the_same_position_whatever_the_shard_count():
    def position_of_rows(count):
        found = {}
        for host in _hosts(50, 3, count, seed=4):
            for k in range(host.num_batches):
                found.update(zip(host.rows(1, k).tolist(), host.positions(1, k).tolist()))
        return found

    assert position_of_rows(1) == position_of_rows(3) == position_of_rows(5)


@pytest.mark.parametrize(
    "shard", [(2, 2), (-1, 3), (0, 0), (True, 2), (0, 1.0), "ab", 3, (0, 1, 2), None]
)
def test_an_invalid_shard_is_refused(shard):
    with pytest.raises(ValueError, match=r"Invalid `shard`: expected a pair `\(index, count\)`"):
        Stream(10, 2, 0, shard=shard)


def test_class_of_must_have_a_class_per_row():
    with pytest.raises(ValueError, match="Invalid `class_of`: expected one class index per row"):
        Stream(10, 2, 0, class_of=np.zeros(9, int))


# -- elastic resume -------------------------------------------------------------


def _lockstep(hosts, steps):
    """`steps` batches on every host in lockstep: `{epoch: [positions]}` and the rows."""
    positions, rows = {}, {}
    for _ in range(steps):
        keys = {h.next() for h in hosts}
        assert len(keys) == 1  # every host serves the same (epoch, index)
        ((epoch, index),) = keys
        for h in hosts:
            positions.setdefault(epoch, []).extend(h.positions(epoch, index).tolist())
            rows.setdefault(epoch, []).extend(h.rows(epoch, index).tolist())
    return positions, rows


def _rest_of_epoch(hosts):
    """Every host's batches to the end of the current epoch, in lockstep."""
    epoch = hosts[0].epoch
    left = {h.batches_in(epoch) - h.position for h in hosts}
    assert len(left) == 1  # the same number on every host
    positions, rows = _lockstep(hosts, left.pop())
    assert {h.epoch for h in hosts} == {epoch + 1} and {h.position for h in hosts} == {0}
    return positions.get(epoch, []), rows.get(epoch, [])


@pytest.mark.parametrize("before", [1, 2, 3, 4])
@pytest.mark.parametrize("after", [1, 2, 3, 4])
@settings(max_examples=25, deadline=None)
@given(
    n=st.integers(1, 120),
    batch_sizes=st.tuples(st.integers(1, 9), st.integers(1, 9)),
    steps=st.integers(0, 40),
    seed=st.integers(0, 1000),
    balanced=st.booleans(),
    data=st.data(),
)
def test_elastic_resume_serves_the_rest_of_the_epoch_once(
    before, after, n, batch_sizes, steps, seed, balanced, data
):
    class_of = _class_of(n, 5, seed) if balanced else None
    first = _hosts(n, batch_sizes[0], before, seed, class_of=class_of)
    seen_positions, seen_rows = _lockstep(first, steps)
    states = [h.get_state() for h in first]
    assert all(s == states[0] for s in states)  # any host's state will do
    state = json.loads(json.dumps(data.draw(st.sampled_from(states))))
    epoch = state["epoch"]

    second = _hosts(n, batch_sizes[1], after, seed + 1, class_of=class_of)
    for host in second:
        host.set_state(state, allow_batch_size_change=True)
    assert {(h.epoch, h.position, h.seed) for h in second} == {(epoch, second[0].position, seed)}
    rest_positions, rest_rows = _rest_of_epoch(second)

    positions = seen_positions.get(epoch, []) + rest_positions
    assert sorted(positions) == list(range(n))  # every row of the epoch exactly once
    order = second[0].order(epoch)
    expected = order if balanced else np.arange(n)
    assert sorted(seen_rows.get(epoch, []) + rest_rows) == sorted(expected.tolist())

    # The next epoch is a whole, normal one of the new hosts.
    fresh = _hosts(n, batch_sizes[1], after, seed, class_of=class_of)
    assert {h.batches_in(epoch + 1) for h in second} == {fresh[0].num_batches}
    next_positions, next_rows = _rest_of_epoch(second)
    assert sorted(next_positions) == list(range(n))
    expected_rows = [
        r for k in range(fresh[0].num_batches) for h in fresh for r in h.rows(epoch + 1, k)
    ]
    assert sorted(next_rows) == sorted(expected_rows)


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(1, 150),
    batch_size=st.integers(1, 9),
    count=st.integers(1, 4),
    steps=st.integers(0, 60),
    drop=st.booleans(),
    seed=st.integers(0, 1000),
)
def test_resuming_on_the_same_hosts_is_the_uninterrupted_run(
    n, batch_size, count, steps, drop, seed
):
    step = batch_size * count
    if drop and n < step:
        return  # no batch at all: the dataset refuses this up front
    hosts = _hosts(n, batch_size, count, seed, drop_remainder=drop)
    _lockstep(hosts, steps)
    state = hosts[0].get_state()
    resumed = _hosts(n, batch_size, count, seed + 7, drop_remainder=drop)
    for host in resumed:
        host.set_state(state)
    assert [(h.epoch, h.position) for h in resumed] == [(h.epoch, h.position) for h in hosts]
    assert resumed[0].upcoming(5) == hosts[0].upcoming(5)
    for _ in range(3 * hosts[0].num_batches):
        for a, b in zip(hosts, resumed):
            key = a.next()
            assert b.next() == key
            assert a.rows(*key).tolist() == b.rows(*key).tolist()


def test_a_resumed_epoch_has_fewer_batches_then_whole_epochs():
    one = Stream(20, 3, seed=1)  # one host, 3 rows a step
    for _ in range(2):
        one.next()
    state = one.get_state()
    assert state["offset"] == 6
    hosts = _hosts(20, 4, 2, seed=5)  # two hosts, 8 rows a step: 6 is not at a step
    for host in hosts:
        host.set_state(state, allow_batch_size_change=True)
    assert [(h.epoch, h.position, h.epoch_offset(0)) for h in hosts] == [(0, 0, 6), (0, 0, 6)]
    assert hosts[0].batches_in(0) == 2 and hosts[0].batches_in(1) == hosts[0].num_batches == 3
    order = one.order(0).tolist()
    assert hosts[0].rows(0, 0).tolist() == order[6:10]
    assert hosts[1].rows(0, 0).tolist() == order[10:14]
    assert hosts[1].rows(0, 1).tolist() == order[18:20]
    assert hosts[1].rows(0, 2).tolist() == []  # past the resumed epoch's batches
    assert hosts[0].upcoming(4) == [(0, 0), (0, 1), (1, 0), (1, 1)]
    assert hosts[0].get_state()["offset"] == 6
    hosts[0].next()
    assert hosts[0].get_state()["offset"] == 14
    hosts[0].seek(0)  # back to the first batch after the resume, as Keras's reset does
    assert (hosts[0].epoch, hosts[0].position, hosts[0].get_state()["offset"]) == (0, 0, 6)
    hosts[0].seek(0, 2)  # past the resumed epoch's end: into the next one
    assert (hosts[0].epoch, hosts[0].position) == (1, 0)
    copy = pickle.loads(pickle.dumps(hosts[1]))
    assert copy.rows(0, 0).tolist() == order[10:14] and copy.batches_in(0) == 2


def test_a_state_at_the_end_of_an_epoch_starts_the_next():
    state = Stream(10, 4, seed=2).state_at(0, 3)
    assert (state["epoch"], state["position"], state["offset"]) == (1, 0, 0)
    ended = dict(state, epoch=0, offset=10, shard_count=3, position=1)
    host = Stream(10, 2, seed=0, shard=(1, 2))
    host.set_state(ended)
    assert (host.epoch, host.position, host.batches_in(1)) == (1, 0, host.num_batches)
    dropped = Stream(10, 2, seed=0, shard=(0, 2), drop_remainder=True)  # 4 rows a step
    dropped.set_state(dict(ended, offset=7))  # 3 rows left: no whole step
    assert (dropped.epoch, dropped.position) == (1, 0)


def test_a_version_1_state_is_accepted():
    old = {
        "version": 1,
        "epoch": 1,
        "position": 2,
        "seed": 4,
        "num_samples": 7,
        "batch_size": 3,
        "fingerprint": "f",
    }
    stream = Stream(7, 3, seed=0, fingerprint="f")
    stream.set_state(old)
    assert stream.next() == (1, 2) and stream.seed == 4
    hosts = _hosts(7, 3, 2, fingerprint="f")  # offset 6 = one step of 6 rows
    for host in hosts:
        host.set_state(old)
    assert [(h.epoch, h.position) for h in hosts] == [(1, 1), (1, 1)]
    assert [h.rows(1, 1).tolist() for h in hosts] == [stream.rows(1, 2).tolist(), []]


def test_a_changed_manifest_is_refused_naming_both_fingerprints():
    state = Stream(10, 2, seed=0, fingerprint="abc123").get_state()
    with pytest.raises(ValueError) as info:
        Stream(10, 2, seed=0, fingerprint="def456", shard=(0, 2)).set_state(state)
    message = str(info.value)
    assert "ids or labels" in message and "changed since the state was saved" in message
    assert "'abc123' in the state" in message and "'def456' here" in message
    with pytest.raises(ValueError, match=r"`num_samples` differ \(10 rows in the state, 11 here"):
        Stream(11, 2, seed=0, fingerprint="abc123").set_state(state)


def test_another_batch_size_on_the_same_hosts_needs_consent():
    state = Stream(10, 2, seed=0).state_at(0, 2)
    with pytest.raises(ValueError, match=r"`batch_size`.*allow_batch_size_change=True"):
        Stream(10, 4, seed=0).set_state(state)
    stream = Stream(10, 4, seed=0)
    stream.set_state(state, allow_batch_size_change=True)
    assert (stream.position, stream.get_state()["offset"]) == (1, 4)
    other = Stream(10, 3, seed=0, shard=(0, 2))  # another shard count: allowed
    other.set_state(state)
    assert (other.epoch_offset(0), other.batches_in(0)) == (4, 1)


@pytest.mark.parametrize(
    "change, match",
    [
        ({"version": 3}, r"Invalid `state`: expected a dict from `get_state\(\)` with a `version`"),
        ({"offset": None}, r"Invalid `state\['offset'\]`: expected an integer >= 0"),
        ({"offset": "4"}, r"Invalid `state\['offset'\]`"),
        ({"offset": 11}, r"offset is past the end of the epoch.*Received: offset=11"),
        ({"epoch": -1}, r"Invalid `state\['epoch'\]`: expected an integer >= 0"),
        ({"shard_count": 0}, r"Invalid `state\['shard_count'\]`: expected an integer >= 1"),
        ({"seed": 1.5}, r"Invalid `state\['seed'\]`"),
        ({"num_samples": "10"}, r"Invalid `state\['num_samples'\]`"),
        ({"position": True}, r"Invalid `state\['position'\]`"),
    ],
)
def test_invalid_state_fields_are_named(change, match):
    state = dict(Stream(10, 2, seed=0).get_state(), **change)
    with pytest.raises(ValueError, match=match):
        Stream(10, 2, seed=0).set_state(state)


def test_a_state_missing_a_field_says_which():
    state = Stream(10, 2, seed=0).get_state()
    del state["offset"], state["shard_count"]
    with pytest.raises(ValueError, match="it lacks 'offset', 'shard_count'"):
        Stream(10, 2, seed=0).set_state(state)
    with pytest.raises(ValueError, match="Invalid `state`"):
        Stream(10, 2, seed=0).set_state([1, 2])


# -- the id digest --------------------------------------------------------------


def test_id_hashes_are_blake2b_and_stable():
    ids = ["0001", "sample-7", "é"]
    expected = [
        int.from_bytes(hashlib.blake2b(i.encode(), digest_size=8).digest(), "little") for i in ids
    ]
    hashes = id_hashes(ids)
    assert hashes.dtype == np.uint64 and hashes.tolist() == expected
    # Pinned: the same on every machine and in every process.
    assert hex(int(hashes[0])) == "0x94466be2a52b0f22"
    assert str(IdDigest.of(ids)) == "3:54750ac8f9576274"
    assert id_hashes(np.array([7, 8])).tolist() == id_hashes(["7", "8"]).tolist()


@settings(max_examples=80, deadline=None)
@given(
    n=st.integers(1, 300),
    batch_size=st.integers(1, 17),
    count=st.integers(1, 6),
    balanced=st.booleans(),
    seed=st.integers(0, 1000),
)
def test_host_digests_add_up_to_the_epochs(n, batch_size, count, balanced, seed):
    ids = [f"id-{i}" for i in range(n)]
    hashes = id_hashes(ids)
    class_of = _class_of(n, 4, seed) if balanced else None
    hosts = _hosts(n, batch_size, count, seed, class_of=class_of)
    digests = []
    for host in hosts:
        digest = IdDigest()
        for k in range(host.num_batches):
            digest.add(hashes[host.rows(1, k)])
        digests.append(IdDigest.parse(json.loads(json.dumps(str(digest)))))  # sent as text
    whole = IdDigest().add(hashes[hosts[0].order(1)])
    assert IdDigest.combine(digests) == whole
    if not balanced:
        assert whole == IdDigest.of(ids)  # every row of the manifest once


def test_a_row_served_twice_or_missed_changes_the_digest():
    ids = [f"row{i}" for i in range(100)]
    hashes = id_hashes(ids)
    whole = IdDigest.of(ids)
    rows = np.arange(100)
    twice = IdDigest().add(hashes[np.concatenate([rows, [17]])])
    missed = IdDigest().add(hashes[rows[rows != 17]])
    swapped = IdDigest().add(hashes[np.where(rows == 17, 18, rows)])  # 17 missed, 18 twice
    assert len({str(d) for d in (whole, twice, missed, swapped)}) == 4
    assert swapped.count == whole.count and swapped != whole
    assert IdDigest.of(ids[:40]) + IdDigest.of(ids[40:]) == whole
    assert IdDigest.of(list(reversed(ids))) == whole


def test_a_digest_travels_as_text_and_pickles():
    digest = IdDigest.of(["a", "b"])
    assert IdDigest.parse(str(digest)) == digest
    assert pickle.loads(pickle.dumps(digest)) == digest
    assert repr(digest) == f"IdDigest.parse('{digest}')"
    assert IdDigest(2, 2**64 + 5) == IdDigest(2, 5)  # modulo 2**64
    for text in ["", "12", "x:0000000000000000", "1:00000000000000", "1:zzzzzzzzzzzzzzzz", 5]:
        with pytest.raises(ValueError, match="Invalid `text`"):
            IdDigest.parse(text)
    with pytest.raises(ValueError, match="Invalid `hashes`: expected `uint64`"):
        IdDigest().add(np.array([1, 2]))
    with pytest.raises(ValueError, match="Invalid `count`"):
        IdDigest(-1)


def test_a_digest_of_ids_from_a_generator_counts_every_one():
    # Ids that are not strings, given once (a generator): none is lost.
    assert IdDigest.of(i for i in range(5)) == IdDigest.of([str(i) for i in range(5)])
    assert IdDigest.of(i for i in range(5)).count == 5

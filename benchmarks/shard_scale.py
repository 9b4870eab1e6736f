"""What sharding costs a host at scale: the order, its batches, the memory, the id digest.

No files: only the `Stream` of each host. For N rows over H hosts, a few hosts
(the first, a middle one, the last) each compute one epoch: the epoch's order
(every host computes the same global order) and the rows of all of its
batches. Every host does the same work, so a handful stand for all of them.
Reported per host: the seconds of that epoch, the peak of memory allocated
while computing it (tracemalloc), and the arrays it holds afterwards (the
orders of the last two epochs it keeps, and `class_of` for balanced sampling).
Shuffled and balanced sampling (1000 classes) are measured.

Then the audit: the id hashes of N ids (the ids made in chunks, so as not to
hold N Python strings at once), and the digests of all H hosts' batches
combined and checked against the digest of the whole manifest.

    python benchmarks/shard_scale.py                     # 10,000,000 rows, 64 hosts
    python benchmarks/shard_scale.py --rows 1000000 --hosts 8
"""

import argparse
import time
import tracemalloc

import numpy as np
from rich.console import Console
from rich.table import Table

from kdataset.core.audit import IdDigest, id_hashes
from kdataset.core.stream import Stream

MB = 2**20


def _epoch(stream, epoch):
    """The epoch's order and the rows of all of this host's batches; the rows served."""
    stream.order(epoch)
    served = 0
    for index in range(stream.batches_in(epoch)):
        served += len(stream.rows(epoch, index))
    return served


def measure_host(args, index, class_of):
    def make():
        return Stream(
            args.rows,
            args.batch_size,
            seed=0,
            class_of=class_of,
            shard=(index, args.hosts),
        )

    stream = make()
    start = time.perf_counter()
    stream.order(1)
    order_seconds = time.perf_counter() - start
    start = time.perf_counter()
    served = _epoch(stream, 1)
    rows_seconds = time.perf_counter() - start
    stream.order(0)  # a second epoch in the cache: what a host holds in steady state
    held = stream.order(0).nbytes + stream.order(1).nbytes
    if class_of is not None:
        held += class_of.nbytes

    traced = make()
    tracemalloc.start()
    try:
        _epoch(traced, 1)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return {
        "host": index,
        "batches": stream.num_batches,
        "rows": served,
        "order": order_seconds,
        "batch rows": rows_seconds,
        "peak": peak / MB,
        "held": held / MB,
        "dtype": stream.order(1).dtype.name,
    }


def host_table(console, args, title, class_of):
    held = "the orders of 2 epochs" + (" and class_of" if class_of is not None else "")
    table = Table(
        title=title,
        caption=f"order s: the epoch's order; rows s: all its batches' rows; "
        f"peak: tracemalloc over the epoch; held: {held}.",
    )
    for name in ["host", "batches", "rows", "order s", "rows s", "epoch s", "peak MB"]:
        table.add_column(name, justify="right")
    table.add_column("held MB", justify="right")
    table.add_column("dtype")
    picked = sorted({0, args.hosts // 2, args.hosts - 1})[: args.measure]
    for index in picked:
        r = measure_host(args, index, class_of)
        table.add_row(
            f"{r['host']}/{args.hosts}",
            f"{r['batches']:,}",
            f"{r['rows']:,}",
            f"{r['order']:.2f}",
            f"{r['batch rows']:.3f}",
            f"{r['order'] + r['batch rows']:.2f}",
            f"{r['peak']:.0f}",
            f"{r['held']:.0f}",
            r["dtype"],
        )
    console.print(table)


def audit_table(console, args):
    chunk = 1_000_000
    hashes = np.empty(args.rows, np.uint64)
    seconds = 0.0
    for start in range(0, args.rows, chunk):
        ids = [f"sample-{i:09d}" for i in range(start, min(start + chunk, args.rows))]
        begin = time.perf_counter()
        hashes[start : start + len(ids)] = id_hashes(ids)
        seconds += time.perf_counter() - begin
    whole = IdDigest().add(hashes)

    # Every host's digest of its batches: the order once, each host's positions in it.
    begin = time.perf_counter()
    order = Stream(args.rows, args.batch_size, seed=0).order(1)
    digests = []
    for index in range(args.hosts):
        host = Stream(args.rows, args.batch_size, seed=0, shard=(index, args.hosts))
        digest = IdDigest()
        for k in range(host.num_batches):
            digest.add(hashes[order[host.positions(1, k)]])
        digests.append(IdDigest.parse(str(digest)))  # as sent between hosts
    combined = IdDigest.combine(digests)
    check_seconds = time.perf_counter() - begin

    table = Table(title=f"Audit: id digest of {args.rows:,} ids")
    table.add_column("step")
    table.add_column("seconds", justify="right")
    table.add_column("result")
    table.add_row(
        "id_hashes (blake2b-64)",
        f"{seconds:.2f}",
        f"{seconds / args.rows * 1e9:.0f} ns an id, {hashes.nbytes / MB:.0f} MB",
    )
    table.add_row(
        f"digests of all {args.hosts} hosts' batches, combined",
        f"{check_seconds:.2f}",
        f"{combined} == {whole}: {combined == whole}",
    )
    console.print(table)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--hosts", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=256, help="per host")
    parser.add_argument("--classes", type=int, default=1000, help="for balanced sampling")
    parser.add_argument("--measure", type=int, default=3, help="hosts measured (1 to 3)")
    args = parser.parse_args()
    console = Console(width=110)
    console.print(
        f"{args.rows:,} rows, {args.hosts} hosts, batch_size {args.batch_size} per host "
        f"({args.batch_size * args.hosts:,} rows a global step). Every host does the same "
        "work: the hosts shown stand for all."
    )
    host_table(console, args, "Shuffled: one epoch per host", None)
    class_of = np.random.default_rng(0).integers(0, args.classes, args.rows).astype(np.int32)
    host_table(
        console, args, f"Balanced sampling ({args.classes} classes): one epoch per host", class_of
    )
    audit_table(console, args)


if __name__ == "__main__":
    main()

"""How long a ManifestDataset takes to build from a large manifest, and what it costs in memory.

Writes a manifest of N rows (`id,label,path`; every path names one small `.npy`
file, so the file checks run without a million files on disk), then builds a
`ManifestDataset` in a fresh process and prints the build time and the resident
memory above a baseline process that imports the same libraries.

    python benchmarks/manifest_scale.py               # 1,000,000 rows
    python benchmarks/manifest_scale.py --rows 200000
"""

import argparse
import os
import subprocess
import sys
import tempfile

CHILD = """
import resource, sys, time
start = time.perf_counter()
import keras, numpy, pandas  # the baseline imports
import kdataset as kd
rss = lambda: int(open("/proc/self/status").read().split("VmRSS:")[1].split()[0]) // 1024
if sys.argv[2] == "baseline":
    print(rss(), rss())
else:
    start = time.perf_counter()
    ds = kd.ManifestDataset(sys.argv[1], batch_size=64)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    print(rss(), peak, f"{seconds:.1f}", len(ds))
"""


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--data-dir", default=os.path.join(tempfile.gettempdir(), "kdataset-bench"))
    args = parser.parse_args()

    import numpy as np
    import pandas as pd

    folder = os.path.join(args.data_dir, f"manifest-{args.rows}")
    manifest = os.path.join(folder, "manifest.csv")
    if not os.path.exists(manifest):
        os.makedirs(folder, exist_ok=True)
        np.save(os.path.join(folder, "x.npy"), np.zeros((32, 32, 3), "float32"))
        labels = np.random.default_rng(0).integers(0, 10, args.rows)
        ids = [f"{i:07d}" for i in range(args.rows)]
        pd.DataFrame({"id": ids, "label": labels, "path": "x.npy"}).to_csv(manifest, index=False)

    def child(mode):
        out = subprocess.run(
            [sys.executable, "-c", CHILD, manifest, mode],
            capture_output=True,
            text=True,
            check=True,
        )
        return out.stdout.split()

    base, _ = map(int, child("baseline"))
    rss, peak, seconds, batches = child("build")
    print(f"{args.rows:,} rows, {batches} batches: built in {seconds} s")
    print(
        f"resident memory above the baseline (keras, numpy, pandas imported): {int(rss) - base} MB"
    )
    print(f"peak above the baseline: {int(peak) - base} MB")


if __name__ == "__main__":
    main()

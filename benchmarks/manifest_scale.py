"""What a ManifestDataset costs in time and memory: for a large manifest, and for an epoch.

Writes a manifest of N rows (`id,label,path`; every path names one small `.npy`
file, so the file checks run without a million files on disk), then builds a
`ManifestDataset` in a fresh process and prints the build time and the resident
memory above a baseline process that imports the same libraries.

Then, in another fresh process, builds a dataset over the `.npy` set of
`loading.py` (20,000 files of 12 KB), iterates one epoch through Keras's own
adapter as `fit` does, and prints the peak resident memory of that epoch above
the memory held before it: the batch buffers in flight, not the data.

    python benchmarks/manifest_scale.py               # 1,000,000 rows
    python benchmarks/manifest_scale.py --rows 200000 --samples 5000
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


EPOCH = """
import sys
import kdataset as kd
from keras.src.trainers.data_adapters.py_dataset_adapter import PyDatasetAdapter

def kb(field):
    return int(open("/proc/self/status").read().split(field + ":")[1].split()[0])

ds = kd.ManifestDataset(sys.argv[1], batch_size=int(sys.argv[2]), path_template="{id}.npy")
x, y = ds[0]  # threads started: what follows is the epoch's own
adapter = PyDatasetAdapter(ds, shuffle=True)
before = kb("VmRSS")
open("/proc/self/clear_refs", "w").write("5")  # VmHWM := VmRSS
adapter.on_epoch_begin()
samples = sum(len(batch[0]) for batch in adapter.get_numpy_iterator())
adapter.on_epoch_end()
print(before / 1024, kb("VmHWM") / 1024, (x.nbytes + y.nbytes) / 2**20, samples)
"""


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--samples", type=int, default=20000, help=".npy files for the epoch")
    parser.add_argument("--batch-size", type=int, default=64)
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

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from loading import prepare_set

    folder = os.path.join(args.data_dir, f"npy-{args.samples}")
    manifest, *_ = prepare_set(folder, args.samples, ".npy")
    out = subprocess.run(
        [sys.executable, "-c", EPOCH, manifest, str(args.batch_size)],
        capture_output=True,
        text=True,
        check=True,
    )
    before, peak, batch_mb, samples = out.stdout.split()
    grown = float(peak) - float(before)
    print(
        f"an epoch over {int(samples):,} .npy files ({int(samples) * 12288 / 2**20:.0f} MB of "
        f"data): peak resident memory {grown:.1f} MB above the dataset's own, "
        f"{grown / float(batch_mb):.1f} batches of {float(batch_mb):.2f} MB"
    )


if __name__ == "__main__":
    main()

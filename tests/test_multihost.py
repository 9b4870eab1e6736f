"""Several processes of a real engine, each reading its shard of one manifest.

JAX: two processes train one model (examples/multihost_jax.py). PyTorch: two
processes of a `torch.distributed` gloo group take `shard="auto"` from it.
"""

import json
import os
import subprocess
import sys

import pytest

EXAMPLE = os.path.join(os.path.dirname(os.path.dirname(__file__)), "examples", "multihost_jax.py")

BACKEND = os.environ.get("KERAS_BACKEND")


@pytest.mark.slow
@pytest.mark.skipif(BACKEND != "jax", reason="multi-process training runs on JAX")
def test_two_processes_end_with_identical_weights_and_serve_every_row_once(tmp_path):
    # 101 rows, 8 per process: 7 global steps of 16, the last one padded on both hosts.
    result = subprocess.run(
        [
            sys.executable, EXAMPLE,
            "--processes", "2", "--epochs", "2", "--rows", "101",
            "--batch-size", "8", "--out", str(tmp_path), "--timeout", "240",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["ok"], summary
    assert summary["process_indices"] == [0, 1]
    assert summary["batches_per_epoch"] == [7, 7]
    assert summary["global_batch_size"] == 16
    assert summary["identical_weights"]
    assert len(set(summary["weights_sha256"])) == 1
    assert summary["exactly_once_per_epoch"] == [True, True]
    # Padding rows have zero weight: the weighted accuracy counts the 101 rows only.
    for accuracy in summary["history"]["accuracy"]:
        assert abs(accuracy * 101 - round(accuracy * 101)) < 1e-3


TORCH_WORKER = """
import sys, torch.distributed as dist
import kdataset as kd
rank, port, manifest, out = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2)
ds = kd.ManifestDataset(manifest, batch_size=4, label_mode="int", seed=5, shard="auto")
batches = sum(1 for _ in ds)
with open(out, "w") as f:
    f.write(f"{ds.shard[0]} {ds.shard[1]} {batches} {ds.served_digest(0)} {ds.epoch_digest(0)}")
dist.barrier()
dist.destroy_process_group()
"""


@pytest.mark.skipif(BACKEND != "torch", reason="a torch.distributed process group")
def test_torch_distributed_processes_take_their_shard_from_the_process_group(tmp_path):
    import socket

    import kdataset as kd
    from tests.conftest import write_samples

    manifest = write_samples(tmp_path, 30)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = str(s.getsockname()[1])
    script = tmp_path / "worker.py"
    script.write_text(TORCH_WORKER)
    outs = [tmp_path / f"rank{rank}.txt" for rank in range(2)]
    workers = [
        subprocess.Popen(
            [sys.executable, str(script), str(rank), port, manifest, str(outs[rank])],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for rank in range(2)
    ]
    for worker in workers:
        output, _ = worker.communicate(timeout=240)
        assert worker.returncode == 0, output[-3000:]
    reports = [out.read_text().split() for out in outs]
    assert [r[:3] for r in reports] == [["0", "2", "4"], ["1", "2", "4"]]
    combined = kd.IdDigest.combine(kd.IdDigest.parse(r[3]) for r in reports)
    assert str(combined) == reports[0][4] == str(kd.IdDigest.of(f"{i:04d}" for i in range(30)))

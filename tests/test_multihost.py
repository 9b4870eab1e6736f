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


def _keras_316():
    from kdataset.training.driving import keras_version

    return keras_version() >= (3, 16)


@pytest.mark.slow
@pytest.mark.skipif(BACKEND != "jax", reason="multi-process training runs on JAX")
@pytest.mark.parametrize("processes", [2, 3])
def test_every_keras_sharding_setting_trains_every_row_once_or_is_refused_up_front(
    tmp_path, processes
):
    # Every combination of DataParallel's auto_shard_dataset and kdataset's shard, on the
    # installed Keras (3.15 in the jax env, 3.16 in keras-nightly): each either trains with
    # the same steps on every process, every row once per epoch and identical weights, or
    # is refused before the first step, saying what to pass. Never a hang (the launcher's
    # timeout), never a row twice. 203 rows, 8 per process: the last global step padded.
    result = subprocess.run(
        [
            sys.executable, EXAMPLE,
            "--processes", str(processes), "--epochs", "2", "--rows", "203",
            "--batch-size", "8", "--out", str(tmp_path), "--timeout", "240",
            "--auto-shard-dataset", "true", "false", "--shard", "auto", "none",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["ok"], summary
    assert summary["process_indices"] == list(range(processes))
    keras_316 = _keras_316()
    # Keras 3.16 shards a PyDataset itself, and kdataset takes Keras's shard; 3.15 refuses.
    expected = {
        (True, "auto"): "trained" if keras_316 else "refused",
        (True, "none"): "trained" if keras_316 else "refused",
        (False, "auto"): "trained",
        (False, "none"): "refused",  # every process would train on every row
    }
    cases = {(c["auto_shard_dataset"], c["shard"]): c for c in summary["cases"]}
    assert {k: c["status"] for k, c in cases.items()} == expected
    steps = -(-203 // (8 * processes))
    for (auto_shard, shard), case in cases.items():
        if case["status"] == "refused":
            # Keras 3.15 refuses first when the dataset is built; else kdataset says.
            by_keras = auto_shard and shard == "auto" and not keras_316
            fix = "auto_shard_dataset = False" if by_keras else "shard='auto'"
            assert fix in case["error"], case["error"]
            continue
        assert case["problems"] == []
        assert case["steps_per_epoch"] == [steps] * processes
        assert case["shards"] == [[i, processes] for i in range(processes)]
        assert len(set(case["weights_sha256"])) == 1
        # Padding rows have zero weight: the weighted accuracy counts the 203 rows only.
        for accuracy in case["history"]["accuracy"]:
            assert abs(accuracy * 203 - round(accuracy * 203)) < 1e-3


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

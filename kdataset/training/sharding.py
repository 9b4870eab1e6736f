"""Which part of every epoch this process serves: its shard among the engine's processes,
or the one Keras gives it."""

from __future__ import annotations

import os
from typing import Literal


def engine_shard() -> tuple[int, int]:
    """`(index, count)` of this process among the processes of the running engine.

    - JAX: `jax.process_index()` and `jax.process_count()`, once
      `jax.distributed.initialize` has run (asking before would start JAX's
      backend and break a later `initialize`).
    - PyTorch: `torch.distributed`'s rank and world size, once its process
      group is initialised.
    - TensorFlow: the worker's index and the number of workers of `TF_CONFIG`,
      as `tf.distribute.MultiWorkerMirroredStrategy` reads them.

    Only engines already imported are asked, so this never imports one; with
    none running, `(0, 1)`: one process, no sharding.
    """
    import sys

    jax = sys.modules.get("jax")
    if jax is not None:
        distributed = getattr(jax, "distributed", None)
        is_initialized = getattr(distributed, "is_initialized", None)
        if is_initialized is not None and is_initialized():
            return int(jax.process_index()), int(jax.process_count())
    torch_distributed = sys.modules.get("torch.distributed")
    if torch_distributed is not None:
        if torch_distributed.is_available() and torch_distributed.is_initialized():
            return int(torch_distributed.get_rank()), int(torch_distributed.get_world_size())
    if "tensorflow" in sys.modules and os.environ.get("TF_CONFIG"):
        import json

        try:
            config = json.loads(os.environ["TF_CONFIG"])
            workers = config["cluster"]["worker"]
            task = config["task"]
        except (ValueError, KeyError, TypeError) as e:
            raise ValueError(f"`shard='auto'` cannot read `TF_CONFIG` ({e!r})") from None
        if task.get("type") in ("worker", "chief"):
            chiefs = len(config["cluster"].get("chief", []))
            index = int(task.get("index", 0)) + (chiefs if task["type"] == "worker" else 0)
            return index, len(workers) + chiefs
    return 0, 1


def host_shard(
    requested: tuple[int, int] | Literal["auto"] | None, keras_shard: tuple[int, int] | None
) -> tuple[int, int]:
    """`(index, count)`: the part of every epoch this process serves.

    Args:
        requested: The dataset's `shard`: `(index, count)`, `"auto"` or `None`.
        keras_shard: Keras's `(data_shard_id, num_data_shards)` when Keras
            shards the dataset itself (`kdataset.training.driving.keras_data_shard`),
            else `None`.

    Returns:
        Keras's shard when Keras shards (kdataset takes it as its own); else
        the engine's (`engine_shard`) for `"auto"`, `(0, 1)` for `None`, or
        `requested`.

    Raises:
        ValueError: `requested` disagrees with Keras's shard, or `None` is asked
            in one of several processes (every row would be served on each),
            saying what to pass instead.
    """
    if keras_shard is not None:
        if isinstance(requested, tuple) and requested != keras_shard:
            raise ValueError(
                f"Keras shards this dataset itself (the distribution has "
                f"`auto_shard_dataset=True`) and gives this process data shard "
                f"{keras_shard[0]} of {keras_shard[1]}, but the dataset was built with "
                f"`shard={requested!r}`. Pass `shard='auto'` (or `None`) to take "
                "Keras's shard, or set the distribution's `auto_shard_dataset=False` to "
                "shard with kdataset alone."
            )
        return keras_shard
    if requested == "auto":
        return engine_shard()
    if requested is None:
        index, count = engine_shard()
        if count > 1:
            raise ValueError(
                f"This process is process {index} of {count} of a distributed run, and "
                f"`shard=None` serves every row on every process: each row would be "
                f"trained on {count} times per epoch. Pass `shard='auto'` to give each "
                "process its part of every epoch (on Keras 3.15 with the distribution's "
                "`auto_shard_dataset=False`; on Keras 3.16 either way), or "
                "`shard=(0, 1)` if every process should read the whole manifest on "
                "purpose. Build the dataset after `keras.distribution.set_distribution`."
            )
        return (0, 1)
    return requested

"""Which part of every epoch this process serves: its shard among the engine's processes."""

from __future__ import annotations

import os


def engine_shard():
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

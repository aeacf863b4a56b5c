"""Training on several processes: fastai's own Hugging Face Accelerate integration (PyTorch DDP).

``facexp train`` runs unchanged under ``torchrun`` or ``accelerate launch``; ``train()`` calls the
helpers here, which do nothing without a launcher (see ``facexp._launch``)::

    torchrun --nproc_per_node 4 -m facexp train data/ --out runs/ddp          # 4 GPUs, one machine
    accelerate launch --multi_gpu --num_processes 4 -m facexp train data/ --out runs/ddp

Each process builds the same DataLoaders (same seed, same split), then fastai's
``learn.distrib_ctx()`` wraps the model in DistributedDataParallel and each loader in a
``DistributedDL`` that hands every process its slice of each epoch: ``--bs`` is per process, so
an optimizer step sees ``bs x processes`` images and an epoch has ``1 / processes`` of the steps.
Validation metrics are gathered over all processes, so every process takes the same
early-stopping decision. Only rank 0 writes the model, plots and logs.

Choices, each for a reason found in fastai 2.8.12 / accelerate 1.15 sources:

* ``cpu=True`` is passed to the Accelerator on machines without CUDA: otherwise accelerate sees
  ``LOCAL_RANK`` and no GPU and quietly trains each process alone (DistributedType.NO).
* ``sync_bn=False``: ``nn.SyncBatchNorm`` runs on GPUs only, and fastai's ``after_fit`` leaves the
  converted layers in the model. DDP broadcasts rank 0's BatchNorm statistics instead.
* ``DistributedDL._broadcast`` moves the epoch's indices to CUDA (NCCL only); on the gloo backend
  (CPU) a CPU tensor is broadcast instead, for the duration of the context.
* fastai's ``lr_find`` restores the starting weights from a file only rank 0 writes, then waits at
  a barrier the other ranks never reach: it runs in rank 0 alone (``on_rank0_alone``), and its
  suggestion is broadcast (``from_rank0``).
* Mixed precision (``learn.to_fp16()``) on GPU; CPU processes train in float32.
"""

from __future__ import annotations

import contextlib
import logging
import os
import warnings
from collections.abc import Callable, Iterator
from typing import TypeVar

import torch

from .._launch import is_main, launched, local_rank, world_size

log = logging.getLogger(__name__)
T = TypeVar("T")


def setup() -> None:
    """Join the launcher's process group (NCCL on GPU, gloo on CPU) and quieten ranks above 0.

    Idempotent; does nothing without a launcher. Rank 0 logs and warns as a lone process would;
    the others keep errors only, so a job prints each line once.

    Raises:
        MissingExtraError: accelerate is not installed.
    """
    if not launched():
        return
    try:
        import accelerate  # noqa: F401  (fastai's distrib_ctx needs it)
    except ImportError:
        from ..errors import MissingExtraError

        raise MissingExtraError("distributed training needs accelerate; pip install accelerate") from None
    if not torch.distributed.is_initialized():
        if torch.cuda.is_available():
            torch.cuda.set_device(local_rank())
        torch.distributed.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    if not is_main():
        logging.getLogger("facexp").setLevel(logging.ERROR)
        warnings.simplefilter("ignore")


def barrier() -> None:
    """Wait until every process gets here (nothing without a launcher)."""
    if launched() and torch.distributed.is_initialized():
        torch.distributed.barrier()


def from_rank0(value: T) -> T:
    """Rank 0's ``value`` in every process (picklable values; ``value`` itself without a launcher)."""
    if not launched():
        return value
    box = [value]
    torch.distributed.broadcast_object_list(box, src=0)
    return box[0]


def rank0_first(fn: Callable[[], T]) -> T:
    """Run ``fn`` on rank 0, then on the other ranks (which then find rank 0's cached work)."""
    setup()
    if is_main():
        result = fn()
        barrier()
        return result
    barrier()
    return fn()


@contextlib.contextmanager
def distributed(learn) -> Iterator:
    """fastai's ``learn.distrib_ctx()`` under a launcher; the Learner untouched otherwise."""
    if not launched():
        yield learn
        return
    from fastai.distributed import DistributedDL

    setup()
    on_gpu = torch.cuda.is_available()
    cpu_broadcast = not on_gpu and torch.distributed.get_backend() == "gloo"
    original = DistributedDL._broadcast
    if cpu_broadcast:
        DistributedDL._broadcast = _broadcast_on_cpu
    if on_gpu:
        learn.to_fp16()
    log.info("distributed: %d processes (%s), batch size per process %d", world_size(),
             "GPU, mixed precision" if on_gpu else "CPU, gloo", learn.dls.train.bs)
    try:
        with learn.distrib_ctx(sync_bn=False, cpu=not on_gpu):
            yield learn
    finally:
        DistributedDL._broadcast = original


def _broadcast_on_cpu(self, t, rank):
    """``DistributedDL._broadcast`` for gloo: the same broadcast of rank 0's indices, on a CPU tensor."""
    t = torch.as_tensor(t, dtype=torch.long)
    torch.distributed.broadcast(t, rank)
    return t.tolist()


def on_rank0_alone(fn: Callable[[], T]) -> T | None:
    """``fn()`` in rank 0 as in a lone process (None in the other ranks); ``fn()`` without a launcher.

    For fastai's ``lr_find``: it saves the starting weights, runs a mock training and reloads them,
    and its ``Learner.load`` waits at a barrier the other ranks never reach (they cannot read the
    file only rank 0 writes). Run outside ``distributed()``, with fastai told the world is one
    process, rank 0 finds the rate on its own (batches of ``--bs``); pass the result through
    ``from_rank0``.
    """
    if not launched():
        return fn()
    if not is_main():
        return None
    with alone():
        return fn()


@contextlib.contextmanager
def alone() -> Iterator[None]:
    """Within the block, fastai sees a world of one process (no gathers, no barriers).

    fastai reads ``$WORLD_SIZE`` on every call (``num_distrib``) and, once a process group exists,
    gathers predictions and metrics from every rank: rank 0's own work (lr_find, the final
    validation passes, writing the bundle) would otherwise wait for ranks that are not there.
    """
    saved = os.environ.get("WORLD_SIZE")
    os.environ["WORLD_SIZE"] = "1"
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("WORLD_SIZE", None)
        else:
            os.environ["WORLD_SIZE"] = saved


def unwrap(model: torch.nn.Module) -> torch.nn.Module:
    """The network inside a DistributedDataParallel wrapper (``model`` itself otherwise)."""
    return model.module if isinstance(model, torch.nn.parallel.DistributedDataParallel) else model

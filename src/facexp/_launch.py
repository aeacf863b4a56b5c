"""Where this process sits in a launched job: rank and world size from the launcher's environment.

``torchrun`` and ``accelerate launch`` start one process per GPU (or per CPU slot) and tell each
its place through ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK``. Training (``facexp.train.distributed``)
and bulk prediction (``facexp.predict.bulk``) both read them here; this module imports nothing
heavy, so the prediction path stays free of torch. Without those variables (or with a world of
one) every function answers as for a lone process, and nothing else changes.
"""

from __future__ import annotations

import os

LAUNCHER_ENV = ("RANK", "WORLD_SIZE", "LOCAL_RANK")


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    try:
        return int(value) if value else default
    except ValueError:
        from .errors import ConfigError

        raise ConfigError(f"${name} is {value!r}, not a whole number; unset it or start the job with torchrun or "
                          "accelerate launch, which set it") from None


def world_size() -> int:
    """How many processes the launcher started (1 without a launcher)."""
    return max(1, _env_int("WORLD_SIZE", 1))


def rank() -> int:
    """This process's global rank, 0 to world_size() - 1 (0 without a launcher)."""
    return _env_int("RANK", 0)


def local_rank() -> int:
    """This process's rank on its machine: the GPU it drives (0 without a launcher)."""
    return _env_int("LOCAL_RANK", 0)


def launched() -> bool:
    """True when a launcher started more than one process (the distributed path applies)."""
    return world_size() > 1


def is_main() -> bool:
    """True in the process that writes shared outputs: rank 0, or a lone process."""
    return rank() == 0


def core_share(processes: int) -> int:
    """This process's share of the machine's cores when ``processes`` processes share it (at least one):
    how many threads it should keep busy at once (bulk prediction's decoders, the server's turns)."""
    return max(1, (os.cpu_count() or 1) // processes)

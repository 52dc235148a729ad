"""Process-group setup from torchrun's environment; world size 1 runs the same code path.

torchrun sets RANK, LOCAL_RANK, WORLD_SIZE, MASTER_ADDR and MASTER_PORT. Without them the
process is rank 0 of 1 and no process group is created, so collectives here become no-ops.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

_logger = logging.getLogger(__name__)

@dataclass(frozen=True)
class DistInfo:
    rank: int
    local_rank: int
    world_size: int
    device: torch.device
    distributed: bool
    backend: str | None


def _pick_backend(preference: str, cuda: bool) -> str:
    if preference == "auto":
        return "nccl" if cuda else "gloo"
    if preference == "nccl" and not cuda:
        _logger.warning("backend nccl asked for but CUDA is not available; using gloo")
        return "gloo"
    return preference


def init_distributed(backend_pref: str = "auto") -> DistInfo:
    """Join the job torchrun started (or stay single-process) and pick this rank's device."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    cuda = torch.cuda.is_available()
    device = torch.device(f"cuda:{local_rank}") if cuda else torch.device("cpu")
    if cuda:
        torch.cuda.set_device(device)
    if "RANK" not in os.environ:
        return DistInfo(0, 0, 1, device, False, None)
    backend = _pick_backend(backend_pref, cuda)
    if not dist.is_initialized():
        dist.init_process_group(backend=backend, device_id=device if backend == "nccl" else None)
    _logger.info("rank %d/%d (local %d) on %s with %s", rank, world_size, local_rank, device, backend)
    return DistInfo(rank, local_rank, world_size, device, True, backend)


def barrier() -> None:
    """Collective -> ALL ranks call it."""
    if dist.is_initialized():
        dist.barrier()


def all_reduce_mean(values: dict[str, float], device: torch.device) -> dict[str, float]:
    """Collective -> ALL ranks call it with the same keys (sorted, so the order agrees)."""
    if not dist.is_initialized() or not values:
        return dict(values)
    names = sorted(values)
    packed = torch.tensor([float(values[n]) for n in names], dtype=torch.float64, device=device)
    dist.all_reduce(packed)
    packed /= dist.get_world_size()
    return dict(zip(names, packed.tolist(), strict=True))


def all_gather_tensor(tensor: torch.Tensor) -> list[torch.Tensor]:
    """Collective -> ALL ranks call it with tensors of one shape and dtype."""
    if not dist.is_initialized():
        return [tensor]
    gathered = [torch.empty_like(tensor) for _ in range(dist.get_world_size())]
    dist.all_gather(gathered, tensor)
    return gathered


SHARED_TEXT_BYTES = 4096


def first_text(text: str | None, device: torch.device) -> str | None:
    """Collective -> ALL ranks call it. The text of the lowest rank that holds one (None when no
    rank does): how a value that only one node's launcher knows reaches every rank, without
    pickling anything (UTF-8 bytes in a fixed-size tensor)."""
    if not dist.is_initialized():
        return text
    data = (text or "").encode("utf-8")
    if len(data) > SHARED_TEXT_BYTES:
        raise ValueError(f"text of {len(data)} bytes exceeds {SHARED_TEXT_BYTES}")
    packed = torch.zeros(SHARED_TEXT_BYTES + 1, dtype=torch.int32)
    packed[0] = len(data)
    packed[1 : 1 + len(data)] = torch.tensor(list(data), dtype=torch.int32)
    for row in all_gather_tensor(packed.to(device)):
        size = int(row[0])
        if size:
            return bytes(row[1 : 1 + size].cpu().to(torch.uint8).tolist()).decode("utf-8")
    return None


def cleanup() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()

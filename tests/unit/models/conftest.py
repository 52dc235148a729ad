"""One torch thread per test: these networks are small, and on a shared 2-core machine OpenMP
barriers cost more than the arithmetic (measured: tiny E_aud + E_mot forward 0.13 s with 2
threads under load vs 0.035 s with 1)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch


@pytest.fixture(autouse=True)
def single_torch_thread() -> Iterator[None]:
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)

"""The model summary table (``pdfgc model summary``) on the tiny preset."""

from __future__ import annotations

import torch

from pdfgc.config import load_config
from pdfgc.models import NETWORK_NAMES, build_model
from pdfgc.models.summary import count_flops, summarize


def test_summary_lists_every_network_with_its_parameters() -> None:
    cfg = load_config("tiny").model
    table = summarize(cfg).splitlines()
    model = build_model(cfg)
    rows = {line.split()[0]: line.split()[1:] for line in table[2:]}
    for name in NETWORK_NAMES:
        params = sum(p.numel() for p in model.network(name).parameters())
        assert float(rows[name][0]) == round(params / 1e6, 3)
        assert float(rows[name][1]) > 0 or name.endswith("_head")
    assert "64x64" in table[0]


def test_count_flops_of_a_linear_layer() -> None:
    layer = torch.nn.Linear(10, 4, bias=False)
    # one (1 x 10) @ (10 x 4) product: 2 * 10 * 4 flops
    assert count_flops(lambda: layer(torch.zeros(1, 10))) == 80

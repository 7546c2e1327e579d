"""PyTorch eager: the reference every other backend is compared with."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from .base import Loader, Runner


class TorchRunner(Runner[nn.Module]):
    name = "torch"

    def __init__(self, loader: Loader[nn.Module], input_names: Sequence[str], output_names: Sequence[str],
                 device: str = "cpu", precision: str = "fp32"):
        super().__init__(loader)
        self.input_names = list(input_names)
        self.output_names = list(output_names)
        self.device = torch.device(device)
        # bf16: torch.autocast runs matmuls and convolutions in bf16 (oneDNN's AMX/AVX512-BF16 kernels on
        # the CPU) and keeps softmax, norms and reductions in fp32, as PyTorch's autocast op lists define.
        self.precision = precision

    def activate(self) -> None:
        super().activate()
        self._backend.to(self.device).eval()

    def _infer(self, backend: nn.Module, feed: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        args = [torch.from_numpy(np.ascontiguousarray(feed[n])).to(self.device) for n in self.input_names]
        autocast = torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.precision == "bf16")
        with torch.inference_mode(), autocast:
            outputs = backend(*args)
        return {n: o.float().cpu().numpy() for n, o in zip(self.output_names, outputs)}

    def describe(self) -> dict[str, Any]:
        return {"backend": self.name, "device": str(self.device), "torch": torch.__version__,
                "threads": torch.get_num_threads(), "precision": self.precision}

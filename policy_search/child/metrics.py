"""Classification metrics and resource accounting for child runs.

Everything here works on tensors already on the training device and returns plain Python numbers, so results
serialize to JSON unchanged. Robustness metrics (corruptions, FGSM) live in ``policy_search/robustness.py``.
"""

from __future__ import annotations

import os
import resource
import time
from dataclasses import dataclass, field

import torch


def confusion_matrix(predictions: torch.Tensor, labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """int64 ``[num_classes, num_classes]``; rows are true classes, columns predicted classes."""
    flat = labels.long() * num_classes + predictions.long()
    return torch.bincount(flat.cpu(), minlength=num_classes * num_classes).view(num_classes, num_classes)


def classification_report(predictions: torch.Tensor, labels: torch.Tensor, num_classes: int) -> dict:
    """Accuracy, macro precision / recall / F1 and the confusion matrix (as nested lists).

    Classes never predicted get precision 0 and classes absent from ``labels`` are left out of the macro means,
    as scikit-learn does with ``zero_division=0`` on the labels present.
    """
    cm = confusion_matrix(predictions, labels, num_classes).double()
    tp = cm.diag()
    support = cm.sum(1)
    predicted = cm.sum(0)
    precision = torch.where(predicted > 0, tp / predicted.clamp(min=1), torch.zeros_like(tp))
    recall = torch.where(support > 0, tp / support.clamp(min=1), torch.zeros_like(tp))
    denom = precision + recall
    f1 = torch.where(denom > 0, 2 * precision * recall / denom.clamp(min=1e-12), torch.zeros_like(tp))
    present = support > 0
    return {
        "accuracy": float(tp.sum() / cm.sum().clamp(min=1)),
        "macro_precision": float(precision[present].mean()),
        "macro_recall": float(recall[present].mean()),
        "macro_f1": float(f1[present].mean()),
        "per_class_recall": [float(r) for r in recall],
        "confusion_matrix": cm.long().tolist(),
    }


def peak_rss_mb() -> float:
    """Peak resident set size of this process in MiB (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


@dataclass
class ResourceMeter:
    """Wall time, CPU utilization, peak RSS and CUDA peak memory over a stretch of work."""

    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    _wall0: float = 0.0
    _cpu0: float = 0.0

    def start(self) -> ResourceMeter:
        self._wall0 = time.perf_counter()
        self._cpu0 = time.process_time()
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
        return self

    def read(self) -> dict:
        wall = max(time.perf_counter() - self._wall0, 1e-9)
        cpu = time.process_time() - self._cpu0
        out = {
            "wall_s": wall,
            # fraction of all cores: 1.0 means every core of the machine was busy for the whole stretch
            "cpu_utilization": cpu / (wall * (os.cpu_count() or 1)),
            "peak_rss_mb": peak_rss_mb(),
        }
        if self.device.type == "cuda":
            out["cuda_max_allocated_mb"] = torch.cuda.max_memory_allocated(self.device) / 2**20
            try:
                out["gpu_utilization"] = torch.cuda.utilization(self.device) / 100.0
            except Exception:  # needs pynvml; utilization is informative only
                pass
        return out

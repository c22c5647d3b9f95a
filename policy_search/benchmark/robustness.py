"""Robustness of a trained child: accuracy on locally generated corruptions and under an FGSM attack.

Corruptions follow CIFAR-10-C (Hendrycks & Dietterich, 2019), regenerated here deterministically instead of
downloaded: Gaussian noise, Gaussian blur, contrast, brightness and JPEG compression, five severities each, with
the severity parameters of the CIFAR-10-C code (``make_cifar_c.py``) where the op is the same. Two simplifications,
stated so results are not mistaken for CIFAR-10-C numbers: brightness adds ``c`` to every channel in [0,1]
instead of to HSV value, and blur uses torchvision's separable Gaussian kernel (size ``2*ceil(3*sigma)+1``).
Everything is batched over images (JPEG runs through torchvision's batched ``encode_jpeg``/``decode_jpeg``),
and the only randomness (noise) comes from a ``torch.Generator`` seeded per (corruption, severity).

FGSM (Goodfellow et al., 2015): ``x_adv = clip(x + eps * sign(grad_x loss), 0, 1)`` in [0,1] pixel space, the
gradient taken through the child's own normalization; ``eps`` is in pixel units (2/255, 8/255 by default).
Adversarial images are not re-quantized to uint8 (the attack would otherwise lose up to half a level).

To bound CPU cost, everything is measured on a fixed stratified subset of the test split
(``DEFAULT_SUBSET = 2000`` images, seed 0), the same images for every policy and seed.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
import torchvision.transforms.v2.functional as TF
from torchvision.io import decode_jpeg, encode_jpeg

__all__ = [
    "CORRUPTIONS",
    "DEFAULT_FGSM_EPS",
    "DEFAULT_SUBSET",
    "SEVERITIES",
    "corrupt",
    "evaluate_robustness",
    "fgsm_accuracy",
]

DEFAULT_SUBSET = 2000  # test images used for robustness (stratified, seed 0)
DEFAULT_FGSM_EPS: tuple[float, ...] = (2 / 255, 8 / 255)  # pixel units in [0, 1]

# Severity 1..5 parameters (CIFAR-10-C values where the corruption is the same).
SEVERITIES: dict[str, tuple[float, ...]] = {
    "gaussian_noise": (0.04, 0.06, 0.08, 0.09, 0.10),  # noise std in [0,1] pixel units
    "gaussian_blur": (0.4, 0.6, 0.7, 0.8, 1.0),  # blur sigma in pixels
    "contrast": (0.75, 0.5, 0.4, 0.3, 0.15),  # factor towards each image's mean
    "brightness": (0.05, 0.1, 0.15, 0.2, 0.3),  # added to [0,1] pixels
    "jpeg": (80, 65, 58, 50, 40),  # JPEG quality
}
CORRUPTIONS: tuple[str, ...] = tuple(SEVERITIES)


def _to_uint8(x: torch.Tensor) -> torch.Tensor:
    return (x.clamp(0.0, 1.0) * 255.0).round().to(torch.uint8)


def _gaussian_noise(images: torch.Tensor, std: float, g: torch.Generator) -> torch.Tensor:
    noise = torch.randn(images.shape, generator=g, device=g.device).to(images.device)
    return _to_uint8(images.float() / 255.0 + std * noise)


def _gaussian_blur(images: torch.Tensor, sigma: float, g: torch.Generator) -> torch.Tensor:
    size = 2 * math.ceil(3 * sigma) + 1
    return TF.gaussian_blur(images.float(), [size, size], [sigma, sigma]).round().clamp(0, 255).to(torch.uint8)


def _contrast(images: torch.Tensor, factor: float, g: torch.Generator) -> torch.Tensor:
    x = images.float() / 255.0
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return _to_uint8((x - mean) * factor + mean)


def _brightness(images: torch.Tensor, shift: float, g: torch.Generator) -> torch.Tensor:
    return _to_uint8(images.float() / 255.0 + shift)


def _jpeg(images: torch.Tensor, quality: float, g: torch.Generator) -> torch.Tensor:
    cpu = list(images.cpu().contiguous())
    # torchvision 0.29 deprecates its image codecs in favour of TorchCodec, but they work in the pinned pair and
    # keep the corruption (and every stored robustness result) byte-identical; revisit when the pin moves.
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message="The image decoding and encoding capabilities of TorchVision", category=DeprecationWarning
        )
        decoded = decode_jpeg(encode_jpeg(cpu, quality=int(quality)))
    return torch.stack(decoded).to(images.device)


_KERNELS: dict[str, Callable[[torch.Tensor, float, torch.Generator], torch.Tensor]] = {
    "gaussian_noise": _gaussian_noise,
    "gaussian_blur": _gaussian_blur,
    "contrast": _contrast,
    "brightness": _brightness,
    "jpeg": _jpeg,
}


def corrupt(images: torch.Tensor, name: str, severity: int, seed: int = 0) -> torch.Tensor:
    """Corrupt uint8 ``[B,C,H,W]`` (C in {1,3}) with ``name`` at ``severity`` (1..5); uint8, same shape/device.

    Deterministic: the noise is drawn from a CPU generator seeded by ``(seed, name, severity)``.
    """
    if name not in _KERNELS:
        raise ValueError(f"unknown corruption {name!r}; choose one of {', '.join(CORRUPTIONS)}")
    levels = SEVERITIES[name]
    if not isinstance(severity, int) or not 1 <= severity <= len(levels):
        raise ValueError(f"severity must be an integer in 1..{len(levels)}, got {severity!r}")
    if images.dtype != torch.uint8 or images.ndim != 4:
        raise ValueError(f"images must be uint8 [B,C,H,W], got {images.dtype} {tuple(images.shape)}")
    g = torch.Generator().manual_seed(int(seed) * 1000 + CORRUPTIONS.index(name) * 10 + severity)
    return _KERNELS[name](images, levels[severity - 1], g)


@torch.no_grad()
def _accuracy(
    model: torch.nn.Module,
    normalize: Callable[[torch.Tensor], torch.Tensor],
    images: torch.Tensor,
    labels: torch.Tensor,
    batch: int = 1000,
) -> float:
    correct = 0
    for start in range(0, len(labels), batch):
        logits = model(normalize(images[start : start + batch]))
        correct += int((logits.argmax(1) == labels[start : start + batch]).sum())
    return correct / max(len(labels), 1)


def fgsm_accuracy(
    model: torch.nn.Module,
    normalize: Callable[[torch.Tensor], torch.Tensor],
    images: torch.Tensor,
    labels: torch.Tensor,
    eps: float,
    batch: int = 500,
) -> float:
    """Accuracy under FGSM at ``eps`` (pixel units in [0,1]) for uint8 ``[N,C,H,W]`` images.

    ``normalize`` maps pixel values in uint8 units (float ``[B,C,H,W]`` in [0, 255]) to the model's input, so
    the gradient passes through the child's own normalization. The model is used in eval mode.
    """
    was_training = model.training
    model.eval()
    correct = 0
    try:
        for start in range(0, len(labels), batch):
            x = (images[start : start + batch].float() / 255.0).requires_grad_(True)
            y = labels[start : start + batch]
            loss = F.cross_entropy(model(normalize(x * 255.0)), y)
            (grad,) = torch.autograd.grad(loss, x)  # input gradient only: parameter .grad stays untouched
            x_adv = (x.detach() + eps * grad.sign()).clamp_(0.0, 1.0)
            with torch.no_grad():
                correct += int((model(normalize(x_adv * 255.0)).argmax(1) == y).sum())
    finally:
        model.train(was_training)
    return correct / max(len(labels), 1)


def evaluate_robustness(
    model: torch.nn.Module,
    normalize: Callable[[torch.Tensor], torch.Tensor],
    images: torch.Tensor,
    labels: torch.Tensor,
    *,
    corruptions: Sequence[str] = CORRUPTIONS,
    severities: Sequence[int] = (1, 2, 3, 4, 5),
    fgsm_eps: Sequence[float] = DEFAULT_FGSM_EPS,
    seed: int = 0,
) -> dict:
    """Clean, corrupted and FGSM accuracy of ``model`` on uint8 ``[N,C,H,W]`` images (already the subset).

    Returns ``{"samples", "clean_accuracy", "corruptions": {name: {severity: acc}}, "corruption_accuracy"
    (mean over every corruption and severity), "fgsm": {"2/255": acc, ...}}``; accuracies in [0, 1].
    """
    was_training = model.training
    model.eval()
    try:
        clean = _accuracy(model, normalize, images, labels)
        table: dict[str, dict[str, float]] = {}
        for name in corruptions:
            table[name] = {
                str(s): _accuracy(model, normalize, corrupt(images, name, s, seed), labels) for s in severities
            }
    finally:
        model.train(was_training)
    accs = [a for row in table.values() for a in row.values()]
    fgsm = {f"{round(e * 255, 3):g}/255": fgsm_accuracy(model, normalize, images, labels, e) for e in fgsm_eps}
    return {
        "samples": int(len(labels)),
        "clean_accuracy": clean,
        "corruptions": table,
        "corruption_accuracy": sum(accs) / len(accs) if accs else float("nan"),
        "fgsm": fgsm,
    }

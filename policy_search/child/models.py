"""Child networks, by name: LeNet-5, the seed CNN, CIFAR ResNet-18, and a fast small net for CPU proxies.

Every builder takes ``(in_channels, num_classes, image_size)`` so one registry serves MNIST (1x28x28) and
CIFAR-10 (3x32x32) alike.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from policy_search.child.tasks import models_of


class LeNet5(nn.Module):
    """LeNet-5 (LeCun et al. 1998) with ReLU and max-pooling, the usual modern reading."""

    def __init__(self, in_channels: int = 1, num_classes: int = 10, image_size: int = 28) -> None:
        super().__init__()
        if image_size < 16:  # two 5x5 convolutions and two poolings: 16 is the smallest side that leaves a pixel
            raise ValueError(
                f"model lenet5 needs images of at least 16x16, got {image_size}x{image_size}; use "
                "--set image_size=16 or more, or another model"
            )
        pad = 2 if image_size == 28 else 0  # 28x28 MNIST is padded to the original 32x32 input
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 6, 5, padding=pad),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(6, 16, 5),
            nn.ReLU(),
            nn.MaxPool2d(2),
        )
        side = ((image_size + 2 * pad - 4) // 2 - 4) // 2
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(16 * side * side, 120),
            nn.ReLU(),
            nn.Linear(120, 84),
            nn.ReLU(),
            nn.Linear(84, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


class SeedCNN(nn.Module):
    """The seed experiments' CNN: conv 32 3x3 -> pool -> conv 64 3x3 -> pool -> fc 128 -> dropout 0.5 -> fc."""

    def __init__(self, in_channels: int = 3, num_classes: int = 10, image_size: int = 32) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 32, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
        )
        side = image_size // 4
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(64 * side * side, 128),
            nn.ReLU(),
            nn.Dropout(0.5),
            nn.Linear(128, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, in_planes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut = nn.Sequential()
        if stride != 1 or in_planes != planes:
            self.shortcut = nn.Sequential(nn.Conv2d(in_planes, planes, 1, stride, bias=False), nn.BatchNorm2d(planes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(out)) + self.shortcut(x))


class ResNet18CIFAR(nn.Module):
    """ResNet-18 in its CIFAR form (He et al. 2016; 3x3 stem, stride 1, no max-pool), 11.2 M parameters."""

    def __init__(self, in_channels: int = 3, num_classes: int = 10, image_size: int = 32) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(in_channels, 64, 3, 1, 1, bias=False), nn.BatchNorm2d(64), nn.ReLU())
        layers, in_planes = [], 64
        for planes, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
            layers += [BasicBlock(in_planes, planes, stride), BasicBlock(planes, planes, 1)]
            in_planes = planes
        self.layers = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(512, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.layers(self.stem(x)))


def _conv_bn(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.GELU())


class FastNet(nn.Module):
    """A small airbench-style net for quick child runs on CPU: three conv-pool stages, BatchNorm, ~0.2 M params."""

    def __init__(self, in_channels: int = 3, num_classes: int = 10, image_size: int = 32, width: int = 32) -> None:
        super().__init__()
        w = width
        self.net = nn.Sequential(
            _conv_bn(in_channels, w),
            nn.MaxPool2d(2),
            _conv_bn(w, 2 * w),
            nn.MaxPool2d(2),
            _conv_bn(2 * w, 4 * w),
            nn.MaxPool2d(2),
            _conv_bn(4 * w, 4 * w),
            nn.AdaptiveMaxPool2d(1),
            nn.Flatten(),
            nn.Linear(4 * w, num_classes, bias=False),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


MODELS: dict[str, Callable[..., nn.Module]] = {
    "lenet5": LeNet5,
    "seed-cnn": SeedCNN,
    "resnet18-cifar": ResNet18CIFAR,
    "fastnet": FastNet,
    "fastnet-s": lambda in_channels, num_classes, image_size: FastNet(in_channels, num_classes, image_size, width=16),
}


# One row per model in child/tasks.py MODEL_TABLE (its modality and metric); checked here.
if sorted(MODELS) != sorted(models_of("image")):
    raise ImportError(f"child/tasks.py MODEL_TABLE image rows {models_of('image')} and models {sorted(MODELS)} differ")


def build_model(name: str, in_channels: int, num_classes: int, image_size: int) -> nn.Module:
    """Build a registered model; unknown names raise with the list of valid ones."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; choose one of {sorted(MODELS)}")
    return MODELS[name](in_channels=in_channels, num_classes=num_classes, image_size=image_size)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())

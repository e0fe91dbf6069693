"""Torch models defined here, read as ``tests/nets.py:NAME`` sources (no zoo spec describes them)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def _double(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
        nn.Conv2d(cout, cout, 3, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


class Up(nn.Module):
    """Up-sample, concatenate the skip connection, convolve (two ways up: transposed conv or bilinear)."""

    def __init__(self, cin: int, cout: int, bilinear: bool) -> None:
        super().__init__()
        self.bilinear = bilinear
        self.up = nn.Identity() if bilinear else nn.ConvTranspose2d(cin, cin // 2, 2, stride=2)
        self.conv = _double(cin + cin // 2 if bilinear else cin, cout)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        if self.bilinear:
            x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
        else:
            x = self.up(x)
        return self.conv(torch.cat([skip, x], dim=1))


class UNet(nn.Module):
    """A small UNet: three levels down (max-pool), three up, skip concatenations, a 1×1 head."""

    def __init__(self, classes: int = 3, width: int = 8) -> None:
        super().__init__()
        w = width
        self.inc = _double(3, w)
        self.down = nn.ModuleList([_double(w, 2 * w), _double(2 * w, 4 * w), _double(4 * w, 8 * w)])
        self.pool = nn.MaxPool2d(2)
        self.up1 = Up(8 * w, 4 * w, bilinear=False)
        self.up2 = Up(4 * w, 2 * w, bilinear=True)
        self.up3 = Up(2 * w, w, bilinear=False)
        self.head = nn.Conv2d(w, classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = [self.inc(x)]
        for down in self.down:
            skips.append(down(self.pool(skips[-1])))
        x = skips.pop()
        for up in (self.up1, self.up2, self.up3):
            x = up(x, skips.pop())
        return self.head(x)


def unet(classes: int = 3, width: int = 8) -> nn.Module:
    return UNet(classes, width)


class Plain(nn.Module):
    """conv → bn → leaky ReLU (in place) → conv: a spec that forgets the in-place flag saves a tensor more."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(8)
        self.act = nn.LeakyReLU(0.1, inplace=True)
        self.conv2 = nn.Conv2d(8, 4, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv2(self.act(self.bn1(self.conv1(x))))


def plain() -> nn.Module:
    return Plain()


class Spectral(nn.Module):
    """Calls two things cnncost has no op for: ``torch.fft.rfft2`` and ``nn.PixelShuffle``."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 16, 3, padding=1)
        self.mix = nn.Sequential(nn.PixelShuffle(2), nn.Conv2d(4, 4, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        y = torch.fft.rfft2(y, norm="ortho").abs()
        return self.mix(y)


def spectral() -> nn.Module:
    return Spectral()


class Gated(nn.Module):
    """Python control flow on a tensor's values: torch.fx cannot follow it."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 4, 3)
        self.gate = Branchy()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.gate(self.stem(x))


class Branchy(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.mean() > 0:
            return x.relu()
        return x


def gated() -> nn.Module:
    return Gated()

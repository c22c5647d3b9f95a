"""Small class-conditional generators for synthetic training data: a conditional VAE and a conditional DCGAN.

Provenance:
- VAE: Kingma & Welling, "Auto-Encoding Variational Bayes" (ICLR 2014); class conditioning as in the
  conditional VAE of Sohn et al. (NeurIPS 2015): the one-hot label is an input of both encoder and decoder.
- DCGAN: Radford, Metz & Chintala, "Unsupervised Representation Learning with Deep Convolutional GANs"
  (ICLR 2016): strided convolutions, batch norm, ReLU / LeakyReLU(0.2), tanh output, Adam lr 2e-4 betas
  (0.5, 0.999). Class conditioning follows Mirza & Osindero, "Conditional Generative Adversarial Nets" (2014):
  the one-hot label is concatenated to the generator's noise and, as constant feature maps, to the
  discriminator's input.

Both nets work on images of side 28 (MNIST) or 32 (CIFAR-10): two stride-2 stages from ``side // 4``.
Pixels are in [0, 1] for the VAE (Bernoulli decoder, logits out) and in [-1, 1] for the DCGAN (tanh out);
``policy_search.generative.train`` converts to and from uint8. The training losses live here beside the nets so one
module says what each model optimises; the training loop (epochs, checkpoints, cache) is in ``generative.py``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["MODEL_KINDS", "ConditionalDCGAN", "ConditionalVAE", "build_generative_model"]

MODEL_KINDS: tuple[str, ...] = ("vae", "dcgan")


def _one_hot_maps(labels: Tensor, num_classes: int, side: int) -> Tensor:
    """float32[B,K,side,side]: the one-hot label broadcast as K constant feature maps."""
    return F.one_hot(labels, num_classes).float()[:, :, None, None].expand(-1, -1, side, side)


class ConditionalVAE(nn.Module):
    """Conditional VAE. ``encode(x[B,C,S,S] in [0,1], y[B]) -> (mu, logvar)[B,Z]``; ``decode(z, y) -> logits``."""

    def __init__(self, channels: int, side: int, num_classes: int, width: int = 32, latent_dim: int = 16) -> None:
        super().__init__()
        self.channels, self.side, self.num_classes, self.latent_dim = channels, side, num_classes, latent_dim
        self.base = side // 4
        flat = 2 * width * self.base * self.base
        self.encoder = nn.Sequential(
            nn.Conv2d(channels + num_classes, width, 4, 2, 1),
            nn.LeakyReLU(0.2),
            nn.Conv2d(width, 2 * width, 4, 2, 1),
            nn.LeakyReLU(0.2),
            nn.Flatten(),
        )
        self.to_stats = nn.Linear(flat + num_classes, 2 * latent_dim)
        self.from_latent = nn.Sequential(nn.Linear(latent_dim + num_classes, flat), nn.ReLU())
        self.decoder = nn.Sequential(
            nn.ConvTranspose2d(2 * width, width, 4, 2, 1), nn.ReLU(), nn.ConvTranspose2d(width, channels, 4, 2, 1)
        )
        self.width = width

    def encode(self, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        h = self.encoder(torch.cat([x, _one_hot_maps(y, self.num_classes, self.side)], 1))
        mu, logvar = self.to_stats(torch.cat([h, F.one_hot(y, self.num_classes).float()], 1)).chunk(2, dim=1)
        return mu, logvar.clamp(-10.0, 10.0)  # keeps exp(logvar) finite early in training

    def decode(self, z: Tensor, y: Tensor) -> Tensor:
        h = self.from_latent(torch.cat([z, F.one_hot(y, self.num_classes).float()], 1))
        return self.decoder(h.view(-1, 2 * self.width, self.base, self.base))

    def generate(self, z: Tensor, y: Tensor) -> Tensor:
        """float32[B,C,S,S] in [0, 1]: the decoder's Bernoulli means (the usual VAE sample image)."""
        return torch.sigmoid(self.decode(z, y))

    def loss(self, x: Tensor, y: Tensor, g: torch.Generator) -> Tensor:
        """Negative ELBO per image (nats): Bernoulli reconstruction + KL(q(z|x,y) || N(0, I))."""
        mu, logvar = self.encode(x, y)
        eps = torch.randn(mu.shape, generator=g, device=g.device).to(mu.device)
        z = mu + eps * torch.exp(0.5 * logvar)
        recon = F.binary_cross_entropy_with_logits(self.decode(z, y), x, reduction="sum")
        kl = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
        return (recon + kl) / x.shape[0]


class _DCGenerator(nn.Module):
    def __init__(self, channels: int, side: int, num_classes: int, width: int, latent_dim: int) -> None:
        super().__init__()
        self.base, self.width, self.num_classes = side // 4, width, num_classes
        self.project = nn.Sequential(
            nn.Linear(latent_dim + num_classes, 2 * width * self.base * self.base, bias=False),
            nn.BatchNorm1d(2 * width * self.base * self.base),
            nn.ReLU(),
        )
        self.body = nn.Sequential(
            nn.ConvTranspose2d(2 * width, width, 4, 2, 1, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(),
            nn.ConvTranspose2d(width, channels, 4, 2, 1),
            nn.Tanh(),
        )

    def forward(self, z: Tensor, y: Tensor) -> Tensor:
        h = self.project(torch.cat([z, F.one_hot(y, self.num_classes).float()], 1))
        return self.body(h.view(-1, 2 * self.width, self.base, self.base))


class _DCDiscriminator(nn.Module):
    def __init__(self, channels: int, side: int, num_classes: int, width: int) -> None:
        super().__init__()
        self.side, self.num_classes = side, num_classes
        # No batch norm on the first layer (Radford et al., Section 3).
        self.body = nn.Sequential(
            nn.Conv2d(channels + num_classes, width, 4, 2, 1),
            nn.LeakyReLU(0.2),
            nn.Conv2d(width, 2 * width, 4, 2, 1, bias=False),
            nn.BatchNorm2d(2 * width),
            nn.LeakyReLU(0.2),
            nn.Flatten(),
            nn.Linear(2 * width * (side // 4) ** 2, 1),
        )

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        return self.body(torch.cat([x, _one_hot_maps(y, self.num_classes, self.side)], 1)).squeeze(1)


class ConditionalDCGAN(nn.Module):
    """Conditional DCGAN: ``generator(z[B,Z], y[B]) -> [B,C,S,S] in [-1,1]`` and ``discriminator(x, y) -> logit``."""

    def __init__(self, channels: int, side: int, num_classes: int, width: int = 32, latent_dim: int = 64) -> None:
        super().__init__()
        self.channels, self.side, self.num_classes, self.latent_dim = channels, side, num_classes, latent_dim
        self.generator = _DCGenerator(channels, side, num_classes, width, latent_dim)
        self.discriminator = _DCDiscriminator(channels, side, num_classes, width)
        for m in self.modules():  # N(0, 0.02) init, N(1, 0.02) for batch-norm scales (Radford et al.)
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
                nn.init.normal_(m.weight, 0.0, 0.02)
            elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
                nn.init.normal_(m.weight, 1.0, 0.02)
                nn.init.zeros_(m.bias)

    def generate(self, z: Tensor, y: Tensor) -> Tensor:
        """float32[B,C,S,S] in [0, 1]."""
        return (self.generator(z, y) + 1.0) / 2.0

    def fake(self, y: Tensor, g: torch.Generator) -> Tensor:
        """Generator output for labels ``y`` from noise drawn on ``g``, in [-1, 1] (keeps the graph)."""
        z = torch.randn(y.shape[0], self.latent_dim, generator=g, device=g.device).to(y.device)
        return self.generator(z, y)

    def discriminator_loss(self, x: Tensor, fake: Tensor, y: Tensor) -> Tensor:
        """BCE of the discriminator on real ``x`` (target 1) and detached ``fake`` (target 0), both in [-1, 1]."""
        real_logit, fake_logit = self.discriminator(x, y), self.discriminator(fake.detach(), y)
        return F.binary_cross_entropy_with_logits(
            real_logit, torch.ones_like(real_logit)
        ) + F.binary_cross_entropy_with_logits(fake_logit, torch.zeros_like(fake_logit))

    def generator_loss(self, fake: Tensor, y: Tensor) -> Tensor:
        """Non-saturating generator loss -log D(G(z, y), y) (Goodfellow et al., 2014, Section 3)."""
        logit = self.discriminator(fake, y)
        return F.binary_cross_entropy_with_logits(logit, torch.ones_like(logit))


def build_generative_model(
    kind: str, channels: int, side: int, num_classes: int, width: int, latent_dim: int
) -> ConditionalVAE | ConditionalDCGAN:
    """A fresh model of ``kind`` (one of MODEL_KINDS) for ``channels`` x ``side`` x ``side`` images."""
    if side % 4:
        raise ValueError(f"image side {side} is not a multiple of 4; the generators upsample twice by 2")
    if kind == "vae":
        return ConditionalVAE(channels, side, num_classes, width, latent_dim)
    if kind == "dcgan":
        return ConditionalDCGAN(channels, side, num_classes, width, latent_dim)
    raise ValueError(f"unknown generative model {kind!r}; choose one of {', '.join(MODEL_KINDS)}")

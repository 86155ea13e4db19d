r"""Image augmentations on batches of tensors ``(B, C, H, W)``, drawn with torch's global RNG (so a
seeded :class:`~tltaxonomy.training.Trainer` run is reproducible).

- :func:`random_shift` — integer translations with zero padding (FixMatch's weak augmentation);
- :func:`cutout` — one zeroed square per image (DeVries & Taylor 2017);
- :func:`random_affine` — rotation, scaling and translation by bilinear resampling, the usual
  augmentation of handwritten-digit training (Simard, Steinkraus & Platt 2003 use elastic and
  affine distortions);
- :func:`augment_batch` — one of them by name, as configured (``"none"``, ``"shift"``, ``"affine"``).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

__all__ = ["AUGMENTATIONS", "augment_batch", "cutout", "random_affine", "random_shift"]

#: the names :func:`augment_batch` accepts
AUGMENTATIONS = ("none", "shift", "affine")


def random_shift(x: torch.Tensor, max_shift: int) -> torch.Tensor:
    """Translate each image of ``x`` ``(B, C, H, W)`` by a random integer offset in
    ``[-max_shift, max_shift]`` along each axis (zero padding), with torch's global RNG."""
    if max_shift <= 0:
        return x
    b, c, h, w = x.shape
    padded = F.pad(x, (max_shift, max_shift, max_shift, max_shift))
    dy = torch.randint(0, 2 * max_shift + 1, (b,), device=x.device)
    dx = torch.randint(0, 2 * max_shift + 1, (b,), device=x.device)
    rows = (dy[:, None] + torch.arange(h, device=x.device)[None, :])  # (B, H)
    cols = (dx[:, None] + torch.arange(w, device=x.device)[None, :])  # (B, W)
    idx_b = torch.arange(b, device=x.device)[:, None, None]
    out = padded.permute(0, 2, 3, 1)[idx_b, rows[:, :, None], cols[:, None, :]]  # (B, H, W, C)
    return out.permute(0, 3, 1, 2)


def cutout(x: torch.Tensor, size: int) -> torch.Tensor:
    """Zero one random ``size × size`` square (clipped at the borders) of each image of ``x`` ``(B, C, H, W)``."""
    if size <= 0:
        return x
    b, _, h, w = x.shape
    cy = torch.randint(0, h, (b,), device=x.device)
    cx = torch.randint(0, w, (b,), device=x.device)
    ys = torch.arange(h, device=x.device)[None, :]
    xs = torch.arange(w, device=x.device)[None, :]
    in_y = (ys >= (cy[:, None] - size // 2)) & (ys < (cy[:, None] - size // 2 + size))
    in_x = (xs >= (cx[:, None] - size // 2)) & (xs < (cx[:, None] - size // 2 + size))
    mask = (in_y[:, :, None] & in_x[:, None, :])[:, None]
    return x.masked_fill(mask, 0.0)


def random_affine(
    x: torch.Tensor, *, degrees: float = 10.0, scale: tuple[float, float] = (0.9, 1.1), translate: float = 0.1
) -> torch.Tensor:
    r"""Rotate each image of ``x`` ``(B, C, H, W)`` by an angle uniform in ``[-degrees, degrees]``, scale it
    by a factor uniform in ``scale`` and translate it by up to ``translate`` of its side along each axis
    (bilinear resampling, zeros outside), with torch's global RNG.

    The sampling grid of image :math:`b` is :math:`A_b \, [u, v, 1]^\top` with
    :math:`A_b = \big[\tfrac{1}{s_b} R(-\theta_b) \;\big|\; -t_b\big]` in normalised coordinates, i.e. the
    output shows the input rotated by :math:`\theta_b`, scaled by :math:`s_b` and moved by :math:`t_b`.
    """
    if x.ndim != 4:
        raise ValueError(f"random_affine: x must be a batch of images (B, C, H, W), got shape {tuple(x.shape)}.")
    b = x.shape[0]
    theta = (torch.rand(b, device=x.device) * 2 - 1) * math.radians(degrees)
    s = scale[0] + torch.rand(b, device=x.device) * (scale[1] - scale[0])
    t = (torch.rand(b, 2, device=x.device) * 2 - 1) * (2 * translate)  # normalised coordinates span 2
    cos, sin = torch.cos(theta) / s, torch.sin(theta) / s
    A = torch.stack([torch.stack([cos, sin, -t[:, 0]], 1), torch.stack([-sin, cos, -t[:, 1]], 1)], 1)
    grid = F.affine_grid(A.to(x.dtype), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def augment_batch(x: torch.Tensor, name: str) -> torch.Tensor:
    """``x`` augmented by the named augmentation: ``"none"`` (unchanged), ``"shift"`` (up to 2 pixels,
    :func:`random_shift`) or ``"affine"`` (:func:`random_affine` with its defaults)."""
    if name == "none":
        return x
    if name == "shift":
        return random_shift(x, 2)
    if name == "affine":
        return random_affine(x)
    raise ValueError(f"Unknown augmentation {name!r}; choose one of {list(AUGMENTATIONS)}.")

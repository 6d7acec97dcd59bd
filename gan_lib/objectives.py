"""The adversarial losses, written on D's logits so that they never take log(0).

With D(x) = sigmoid(l):  log D = -softplus(-l)  and  log(1 - D) = -softplus(l).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def value(logits_real: Tensor, logits_fake: Tensor) -> Tensor:
    """V(D, G) of Eq. (1) on a minibatch: mean log D(x) + mean log(1 - D(G(z)))."""
    return -F.softplus(-logits_real).mean() - F.softplus(logits_fake).mean()


def discriminator_loss(logits_real: Tensor, logits_fake: Tensor) -> Tensor:
    """AdversaryCost2's d_obj = (BCE(D(x), 1) + BCE(D(G(z)), 0)) / 2, i.e. -V/2."""
    return -0.5 * value(logits_real, logits_fake)


def generator_loss(logits_fake: Tensor, kind: str = "nonsaturating") -> Tensor:
    """G's loss: "minimax" = mean log(1 - D(G(z))) (Eq. 1); "nonsaturating" = mean -log D(G(z)) (Section 3)."""
    if kind == "minimax":
        return -F.softplus(logits_fake).mean()
    if kind == "nonsaturating":
        return F.softplus(-logits_fake).mean()
    raise ValueError(f"unknown generator loss {kind!r}; expected 'minimax' or 'nonsaturating'")


def slope_ratio(logits_fake: Tensor, kind: str = "nonsaturating") -> Tensor:
    """Per generated row, d(generator_loss)/dl over d(discriminator_loss)/dl at D's logit l: -2 for "minimax",
    -2 exp(-l) for "nonsaturating" (both losses are means over the same rows)."""
    if kind == "minimax":
        return torch.full_like(logits_fake, -2.0)
    if kind == "nonsaturating":
        return -2.0 * torch.exp(-logits_fake)
    raise ValueError(f"unknown generator loss {kind!r}; expected 'minimax' or 'nonsaturating'")


def grad_scale(grad_samples: Tensor, target_scale: float) -> Tensor:
    """AdversaryCost2's ``scale_grads``: factor max(1, target / ||dL_G/dS||_2) for G's gradients (S = the batch)."""
    return torch.clamp(target_scale / grad_samples.norm(), min=1.0)

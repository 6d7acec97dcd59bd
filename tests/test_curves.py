"""gan_lib.curves: a 1-D GAN's D, G and p_g on a grid."""

import math

import numpy as np
import pytest
import torch

from gan_lib.curves import discriminator_curve, generator_curve, kde
from gan_lib.data import Gaussian


def test_discriminator_curve_is_the_float64_sigmoid_of_the_logit():
    D = torch.nn.Linear(1, 1)
    with torch.no_grad():
        D.weight.fill_(20.0)
        D.bias.fill_(-1.0)
    xs = np.array([-1.0, 0.05, 1.5])
    d = discriminator_curve(D, xs)
    assert d.dtype == np.float64 and d.shape == (3,)
    np.testing.assert_allclose(d, 1 / (1 + np.exp(-(20 * xs - 1))), rtol=1e-6)
    assert d[2] < 1  # a logit of 29: sigmoid rounds to exactly 1 in float32, not in float64


def test_generator_curve_evaluates_the_map():
    G = torch.nn.Sequential(torch.nn.Linear(1, 1))
    with torch.no_grad():
        G[0].weight.fill_(2.0)
        G[0].bias.fill_(0.5)
    np.testing.assert_allclose(generator_curve(G, np.array([-1.0, 0.0, 1.0])), [-1.5, 0.5, 2.5])


def test_kde_of_gaussian_samples_is_close_to_the_density():
    xs = np.linspace(-4, 4, 81)
    estimate = kde(Gaussian(0.0, 1.0).sample(20_000, seed=0).numpy(), xs, bandwidth=0.1)
    assert np.sum(estimate) * (xs[1] - xs[0]) == pytest.approx(1.0, abs=1e-3)
    assert np.abs(estimate - np.exp(-0.5 * xs**2) / math.sqrt(2 * math.pi)).max() < 0.02
    with pytest.raises(ValueError, match="bandwidth"):
        kde(np.zeros(3), xs, 0.0)

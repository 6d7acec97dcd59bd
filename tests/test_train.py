"""Tests for gan_lib.train: schedules, the Pylearn2 momentum rule, the updates' gradients, determinism,
checkpointing (atomic writes, exact resume, clear errors) and the per-epoch log."""

from __future__ import annotations

import copy
import itertools
import json
import math
import os
import pickle
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from gan_lib.checkpoint import CheckpointError, load_checkpoint, load_generator
from gan_lib.config import Config
from gan_lib.data import MNIST, training_data
from gan_lib.models import generate, sample_noise
from gan_lib.objectives import discriminator_loss
from gan_lib.optim import MomentumSGD, learning_rate, make_optimizer, momentum
from gan_lib.train import Trainer, Update, best_evaluation, evaluations, plateau_bar, read_log, stop_reason

RECORD_KEYS = {"epoch", "step", "lr", "momentum", "d_loss", "g_loss", "d_real", "d_fake", "seconds"}


def params(module: torch.nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in module.parameters()]


def assert_same_state(a: Trainer, b: Trainer) -> None:
    """Bitwise-equal parameters, optimiser buffers, RNG state and counters."""
    for x, y in [(a.G.state_dict(), b.G.state_dict()), (a.D.state_dict(), b.D.state_dict())]:
        assert x.keys() == y.keys()
        assert all(torch.equal(x[k], y[k]) for k in x)
    for oa, ob in [(a.opt_g, b.opt_g), (a.opt_d, b.opt_d)]:
        sa, sb = oa.state_dict()["state"], ob.state_dict()["state"]
        assert sa.keys() == sb.keys() and len(sa) > 0
        assert all(torch.equal(sa[i]["buf"], sb[i]["buf"]) for i in sa)
        assert oa.param_groups[0]["lr"] == ob.param_groups[0]["lr"]
        assert oa.param_groups[0]["momentum"] == ob.param_groups[0]["momentum"]
    assert torch.equal(a.rng.get_state(), b.rng.get_state())
    assert (a.epoch, a.step) == (b.epoch, b.step)


def without_seconds(record: dict) -> dict:
    return {k: v for k, v in record.items() if k != "seconds"}


# --- schedules -----------------------------------------------------------------------------------


def test_learning_rate_schedule() -> None:
    cfg = Config()
    assert learning_rate(cfg, 0) == 0.1
    for step in (1, 10, 1000, 500_000):
        assert learning_rate(cfg, step) == pytest.approx(0.1 / 1.000004**step, rel=1e-12)
    assert learning_rate(cfg, 500_000) == pytest.approx(0.1 * math.exp(-2.0), rel=1e-5)
    # floor: 0.1 / 1.000004^s reaches 1e-6 near s = 2.878e6
    assert learning_rate(cfg, 2_870_000) > 1e-6
    assert learning_rate(cfg, 2_900_000) == 1e-6
    assert learning_rate(cfg, 10**8) == 1e-6
    assert learning_rate(cfg.replace(lr_decay=1.0), 10**6) == 0.1


def test_momentum_schedule() -> None:
    cfg = Config()
    assert momentum(cfg, 0) == 0.5 and momentum(cfg, 1) == 0.5
    assert momentum(cfg, 2) == pytest.approx(0.5 + 0.2 / 249, rel=1e-12)
    assert momentum(cfg, 125) == pytest.approx(0.5 + 0.2 * 124 / 249, rel=1e-12)
    assert momentum(cfg, 249) == pytest.approx(0.5 + 0.2 * 248 / 249, rel=1e-12)
    assert momentum(cfg, 250) == pytest.approx(0.7, rel=1e-12)
    assert momentum(cfg, 1000) == pytest.approx(0.7, rel=1e-12)
    values = [momentum(cfg, e) for e in range(1, 251)]
    steps = [b - a for a, b in itertools.pairwise(values)]
    assert max(steps) == pytest.approx(min(steps), rel=1e-6)  # linear


def test_momentum_jumps_when_start_equals_saturate() -> None:
    cfg = Config(momentum_start=3, momentum_saturate=3)
    assert [momentum(cfg, e) for e in range(5)] == [0.5, 0.5, 0.5, 0.7, 0.7]


def test_trainer_uses_the_schedules_like_pylearn2(toy_config: Config) -> None:
    """MomentumAdjustor's counter is 1 during the first epoch (Pylearn2 calls on_monitor once before training),
    so epoch e (1-based) trains with momentum(cfg, e); ExponentialDecay sets lr / decay^s before minibatch s."""
    cfg = toy_config.replace(momentum_start=1, momentum_saturate=3, epochs=4, lr_decay=1.1)
    trainer = Trainer(cfg, training_data(cfg))
    seen = []

    def hook(t: Trainer) -> dict:
        seen.append([(g["lr"], g["momentum"]) for opt in (t.opt_g, t.opt_d) for g in opt.param_groups])
        return {}

    history = trainer.fit(hook=hook, progress=False)
    steps = trainer.steps_per_epoch()
    assert steps == 8
    for e, (record, groups) in enumerate(zip(history, seen), start=1):
        expected_mu = [0.5, 0.6, 0.7, 0.7][e - 1]
        assert record["momentum"] == pytest.approx(expected_mu, rel=1e-12)
        for lr, mu in groups:
            assert mu == pytest.approx(expected_mu, rel=1e-12)
            assert lr == pytest.approx(learning_rate(cfg, e * steps - 1), rel=1e-12)  # the last step's lr
        assert record["lr"] == pytest.approx(learning_rate(cfg, e * steps), rel=1e-12)  # the next step's lr


# --- optimiser -----------------------------------------------------------------------------------


def test_momentum_sgd_is_the_pylearn2_rule() -> None:
    p = torch.nn.Parameter(torch.tensor([1.0, -2.0], dtype=torch.float64))
    frozen = torch.nn.Parameter(torch.tensor([3.0], dtype=torch.float64))
    opt = MomentumSGD([p, frozen], lr=0.1, momentum=0.5)
    # inc = mu * inc - lr * g; p += inc, with lr and mu changed between steps as the schedules do
    schedule = [(0.1, 0.5, [1.0, 2.0]), (0.2, 0.5, [-1.0, 0.5]), (0.1, 0.7, [0.0, 0.0])]
    expected = [[0.9, -2.2], [1.05, -2.4], [1.155, -2.54]]
    for (lr, mu, g), want in zip(schedule, expected):
        opt.param_groups[0].update(lr=lr, momentum=mu)
        p.grad = torch.tensor(g, dtype=torch.float64)
        opt.step()
        torch.testing.assert_close(p.detach(), torch.tensor(want, dtype=torch.float64), rtol=0, atol=1e-12)
    assert frozen.item() == 3.0 and frozen not in opt.state


def test_momentum_sgd_carries_the_increment_of_a_step_without_momentum() -> None:
    p = torch.nn.Parameter(torch.tensor([0.0], dtype=torch.float64))
    opt = MomentumSGD([p], lr=0.1, momentum=0.0)
    for mu, g, want in [(0.0, 1.0, -0.1), (0.0, 2.0, -0.3), (0.5, 0.0, -0.4), (0.5, 4.0, -0.85)]:
        opt.param_groups[0]["momentum"] = mu
        p.grad = torch.tensor([g], dtype=torch.float64)
        opt.step()
        assert p.item() == pytest.approx(want, abs=1e-12)


def test_make_optimizer() -> None:
    p = [torch.nn.Parameter(torch.zeros(2))]
    assert isinstance(make_optimizer(Config(), p), MomentumSGD)
    adam = make_optimizer(Config(optimizer="adam", adam_betas=[0.5, 0.99], lr=0.01), p)
    assert isinstance(adam, torch.optim.Adam)
    assert adam.param_groups[0]["betas"] == (0.5, 0.99) and adam.param_groups[0]["lr"] == 0.01


# --- noise and data ------------------------------------------------------------------------------


def test_uniform_noise_has_unit_variance_and_bounded_support() -> None:
    z = sample_noise(Config(), 2000, torch.Generator().manual_seed(0))
    assert z.shape == (2000, 100)
    assert z.min() >= -math.sqrt(3) and z.max() <= math.sqrt(3) and z.max() > 1.7
    assert z.mean().item() == pytest.approx(0.0, abs=0.01) and z.var().item() == pytest.approx(1.0, abs=0.01)


def test_normal_noise_and_reproducibility() -> None:
    cfg = Config(noise="normal", noise_dim=10)
    z = sample_noise(cfg, 20000, torch.Generator().manual_seed(1))
    assert z.abs().max() > math.sqrt(3)
    assert z.mean().item() == pytest.approx(0.0, abs=0.01) and z.var().item() == pytest.approx(1.0, abs=0.01)
    assert torch.equal(
        sample_noise(cfg, 5, torch.Generator().manual_seed(2)), sample_noise(cfg, 5, torch.Generator().manual_seed(2))
    )


def test_mnist_training_data_is_the_training_split(tiny_mnist_config: Config, mnist_splits: MNIST) -> None:
    x = training_data(tiny_mnist_config, mnist_splits)
    assert x.shape == (50_000, 784) and x.dtype == torch.float32
    assert x.data_ptr() == mnist_splits.train_x.ctypes.data  # an already loaded MNIST is used as it is, not re-read
    assert torch.equal(x, training_data(tiny_mnist_config))  # and gives what reading the folder gives


def test_toy_training_data_is_seeded(toy_config: Config) -> None:
    x = training_data(toy_config)
    assert x.shape == (400, 1) and x.dtype == torch.float32
    assert torch.equal(x, training_data(toy_config))
    assert not torch.equal(x, training_data(toy_config.replace(seed=1)))
    assert (x < 0).float().mean().item() == pytest.approx(0.5, abs=0.1)  # two symmetric modes at -2 and 2


def test_too_little_data_is_refused(toy_config: Config) -> None:
    with pytest.raises(ValueError, match="fewer than one step"):
        Trainer(toy_config, torch.zeros(49, 1))
    with pytest.raises(ValueError, match="fewer than one step"):
        Trainer(toy_config.replace(update="alternating", k=3), torch.zeros(149, 1))


def test_generate_is_seeded(tiny_mnist_config: Config, mnist_subset: torch.Tensor) -> None:
    trainer = Trainer(tiny_mnist_config, mnist_subset)
    a = generate(trainer.G, tiny_mnist_config, 30, seed=5, batch=7)
    assert a.shape == (30, 784) and 0 <= a.min() and a.max() <= 1
    assert torch.equal(a, generate(trainer.G, tiny_mnist_config, 30, seed=5, batch=7))
    torch.testing.assert_close(a, generate(trainer.G, tiny_mnist_config, 30, seed=5), rtol=1e-5, atol=1e-7)
    assert not torch.equal(a, generate(trainer.G, tiny_mnist_config, 30, seed=6))


def test_initial_generator_output_bias(tiny_mnist_config: Config, mnist_subset: torch.Tensor) -> None:
    trainer = Trainer(tiny_mnist_config, mnist_subset)
    p = mnist_subset.double().mean(0).clamp(1e-7, 1 - 1e-7)
    torch.testing.assert_close(trainer.G.out.bias.detach().double(), torch.log(p / (1 - p)), rtol=1e-5, atol=1e-5)


# --- the updates ---------------------------------------------------------------------------------


def fixed_randomness(trainer: Trainer, monkeypatch: pytest.MonkeyPatch, n: int) -> tuple[torch.Tensor, list, list]:
    """Replace the trainer's noise and dropout draws by fixed tensors; returns them and a log of the mask calls."""
    gen = torch.Generator().manual_seed(123)
    z = sample_noise(trainer.cfg, n, gen)
    masks = trainer.D.dropout_masks(2 * n, gen)
    calls: list[int] = []

    def fake_noise(m: int) -> torch.Tensor:
        assert m == n
        return z

    def fake_masks(m: int) -> list[torch.Tensor]:
        """All 2n rows' masks (real rows first) for one call of 2n, as simultaneous_step draws them."""
        calls.append(m)
        assert m == 2 * n
        return masks

    monkeypatch.setattr(trainer, "_noise", fake_noise)
    monkeypatch.setattr(trainer, "_masks", fake_masks)
    return z, masks, calls


def move_away_from_chance(trainer: Trainer) -> None:
    """At init D(x) ~ 1/2 for every x, where the two generator losses have the same gradient; make D opinionated."""
    with torch.no_grad():
        for p in trainer.D.parameters():
            p.mul_(20)
        trainer.D.layers[-1].bias.fill_(1.5)


def reference_grads(
    G: torch.nn.Module, D: torch.nn.Module, x: torch.Tensor, z: torch.Tensor, masks: list, g_loss: str
) -> tuple[list[torch.Tensor], list[torch.Tensor], torch.Tensor]:
    """Plain autograd on copies: D-grads of d_obj, G-grads of g_obj through the SAME D forward (AdversaryCost2)."""
    G, D = copy.deepcopy(G), copy.deepcopy(D)
    n = len(x)
    fake = G(z)
    logits = D(torch.cat([x, fake]), masks)
    lr, lf = logits[:n], logits[n:]
    d_obj = 0.5 * (
        F.binary_cross_entropy_with_logits(lr, torch.ones_like(lr))
        + F.binary_cross_entropy_with_logits(lf, torch.zeros_like(lf))
    )
    if g_loss == "nonsaturating":
        g_obj = F.binary_cross_entropy_with_logits(lf, torch.ones_like(lf))
    else:
        g_obj = -F.binary_cross_entropy_with_logits(lf, torch.zeros_like(lf))
    d_grads = torch.autograd.grad(d_obj, list(D.parameters()), retain_graph=True)
    (grad_fake,) = torch.autograd.grad(g_obj, fake, retain_graph=True)
    g_grads = torch.autograd.grad(g_obj, list(G.parameters()))
    return list(d_grads), list(g_grads), grad_fake


@pytest.mark.parametrize("g_loss, dropout", [("nonsaturating", True), ("minimax", True), ("nonsaturating", False)])
def test_simultaneous_step_gradients_match_reference(
    tiny_mnist_config: Config, mnist_subset: torch.Tensor, monkeypatch: pytest.MonkeyPatch, g_loss: str, dropout: bool
) -> None:
    cfg = tiny_mnist_config.replace(g_loss=g_loss, d_dropout=dropout)
    trainer = Trainer(cfg, mnist_subset)
    move_away_from_chance(trainer)
    x = mnist_subset[:100]
    z, masks, calls = fixed_randomness(trainer, monkeypatch, 100)
    if not dropout:
        masks = None
        monkeypatch.setattr(trainer, "_masks", lambda m: calls.append(m))
    d_grads, g_grads, _ = reference_grads(trainer.G, trainer.D, x, z, masks, g_loss)
    g_before, d_before = params(trainer.G), params(trainer.D)
    trainer._set_hyperparameters()
    d_loss, g_loss_value, *_ = trainer.simultaneous_step(x)
    assert calls == [200]  # one draw for the real and the fake rows, shared by both losses
    for p, g in zip(trainer.D.parameters(), d_grads):
        torch.testing.assert_close(p.grad, g, rtol=1e-5, atol=1e-8)
    for p, g in zip(trainer.G.parameters(), g_grads):
        torch.testing.assert_close(p.grad, g, rtol=1e-5, atol=1e-8)
    # first step, zero velocity: p <- p - 0.1 * grad for both nets, in the same step
    for before, p, g in zip(d_before + g_before, [*trainer.D.parameters(), *trainer.G.parameters()], d_grads + g_grads):
        torch.testing.assert_close(p.detach(), before - 0.1 * g, rtol=1e-5, atol=1e-7)
    assert torch.isfinite(d_loss) and torch.isfinite(g_loss_value)


@pytest.mark.parametrize("target", [1e3, 1e-9])
def test_scale_grads_rescales_only_generator(
    tiny_mnist_config: Config, mnist_subset: torch.Tensor, monkeypatch: pytest.MonkeyPatch, target: float
) -> None:
    cfg = tiny_mnist_config.replace(scale_grads=True, target_scale=target)
    trainer = Trainer(cfg, mnist_subset)
    move_away_from_chance(trainer)
    x = mnist_subset[:100]
    z, masks, _ = fixed_randomness(trainer, monkeypatch, 100)
    d_grads, g_grads, grad_fake = reference_grads(trainer.G, trainer.D, x, z, masks, cfg.g_loss)
    factor = max(1.0, target / grad_fake.double().norm().item())
    assert (factor > 10) if target > 1 else (factor == 1.0)
    trainer.simultaneous_step(x)
    for p, g in zip(trainer.D.parameters(), d_grads):
        torch.testing.assert_close(p.grad, g, rtol=1e-5, atol=1e-8)
    for p, g in zip(trainer.G.parameters(), g_grads):
        torch.testing.assert_close(p.grad, g * factor, rtol=1e-4, atol=1e-8 * factor)


@pytest.mark.parametrize("g_loss", ["nonsaturating", "minimax"])
def test_simultaneous_step_when_d_rejects_samples_with_huge_confidence(
    tiny_mnist_config: Config, mnist_subset: torch.Tensor, monkeypatch: pytest.MonkeyPatch, g_loss: str
) -> None:
    """Logits far below SHARED_BACKWARD_MIN_LOGIT: G's gradient must still be that of its own loss."""
    trainer = Trainer(tiny_mnist_config.replace(g_loss=g_loss), mnist_subset)
    move_away_from_chance(trainer)
    with torch.no_grad():
        trainer.D.layers[-1].bias.fill_(-60.0)
    x = mnist_subset[:100]
    z, masks, _ = fixed_randomness(trainer, monkeypatch, 100)
    d_grads, g_grads, _ = reference_grads(trainer.G, trainer.D, x, z, masks, g_loss)
    trainer.simultaneous_step(x)
    assert max(g.abs().max().item() for g in g_grads) > 0
    for p, g in zip([*trainer.D.parameters(), *trainer.G.parameters()], d_grads + g_grads):
        torch.testing.assert_close(p.grad, g, rtol=1e-5, atol=1e-12)


def test_discriminator_step_leaves_generator_alone(tiny_mnist_config: Config, mnist_subset: torch.Tensor) -> None:
    trainer = Trainer(tiny_mnist_config.replace(update="alternating", k=2), mnist_subset)
    g_before, d_before = params(trainer.G), params(trainer.D)
    trainer.discriminator_step(mnist_subset[:100])
    assert all(torch.equal(a, b) for a, b in zip(g_before, trainer.G.parameters()))
    assert not all(torch.equal(a, b) for a, b in zip(d_before, trainer.D.parameters()))
    d_before = params(trainer.D)
    trainer.generator_step(100)
    assert all(torch.equal(a, b) for a, b in zip(d_before, trainer.D.parameters()))
    assert not all(torch.equal(a, b) for a, b in zip(g_before, trainer.G.parameters()))


def test_generator_step_gradient_matches_reference(
    tiny_mnist_config: Config, mnist_subset: torch.Tensor, monkeypatch: pytest.MonkeyPatch
) -> None:
    trainer = Trainer(tiny_mnist_config.replace(update="alternating", k=2, g_loss="minimax"), mnist_subset)
    move_away_from_chance(trainer)
    gen = torch.Generator().manual_seed(9)
    z = sample_noise(trainer.cfg, 100, gen)
    masks = trainer.D.dropout_masks(100, gen)
    monkeypatch.setattr(trainer, "_noise", lambda n: z)
    monkeypatch.setattr(trainer, "_masks", lambda n: masks)
    G, D = copy.deepcopy(trainer.G), copy.deepcopy(trainer.D)
    lf = D(G(z), masks)
    expected = torch.autograd.grad(torch.log1p(-torch.sigmoid(lf.double())).mean(), list(G.parameters()))
    trainer.generator_step(100)
    for p, g in zip(trainer.G.parameters(), expected):
        torch.testing.assert_close(p.grad, g.float(), rtol=1e-4, atol=1e-8)


def record_optimiser_steps(trainer: Trainer, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """A list that receives "D" or "G" each time that network's optimiser steps."""
    order: list[str] = []

    def recording(step: Callable[[], None], name: str) -> Callable[[], None]:
        def recorded() -> None:
            order.append(name)
            step()

        return recorded

    for name, opt in (("D", trainer.opt_d), ("G", trainer.opt_g)):
        monkeypatch.setattr(opt, "step", recording(opt.step, name))
    return order


def test_alternating_k_discriminator_updates_per_generator_update(
    tiny_mnist_config: Config, mnist_subset: torch.Tensor, monkeypatch: pytest.MonkeyPatch
) -> None:
    trainer = Trainer(tiny_mnist_config.replace(update="alternating", k=2), mnist_subset)
    order = record_optimiser_steps(trainer, monkeypatch)
    assert trainer.steps_per_epoch() == 4  # 5 batches of 100, in whole groups of k = 2
    record = trainer.train_epoch()
    assert order == ["D", "D", "G", "D", "D", "G"]
    assert trainer.step == record["step"] == 4 and trainer.epoch == 1


def test_simultaneous_epoch_steps_both_nets_once_per_batch(
    tiny_mnist_config: Config, mnist_subset: torch.Tensor, monkeypatch: pytest.MonkeyPatch
) -> None:
    trainer = Trainer(tiny_mnist_config, torch.cat([mnist_subset, mnist_subset[:50]]))  # 550 rows: 5 whole batches
    order = record_optimiser_steps(trainer, monkeypatch)
    record = trainer.train_epoch()
    assert order == ["D", "G"] * 5
    assert record["step"] == 5
    assert 0 < record["d_real"] < 1 and 0 < record["d_fake"] < 1
    assert math.isfinite(record["d_loss"]) and math.isfinite(record["g_loss"])


# --- determinism and resume ----------------------------------------------------------------------


def test_same_seed_gives_bitwise_identical_runs(tiny_mnist_config: Config, mnist_subset: torch.Tensor) -> None:
    a, b = Trainer(tiny_mnist_config, mnist_subset), Trainer(tiny_mnist_config, mnist_subset)
    ha, hb = a.fit(progress=False), b.fit(progress=False)
    assert_same_state(a, b)
    assert [without_seconds(r) for r in ha] == [without_seconds(r) for r in hb]
    c = Trainer(tiny_mnist_config.replace(seed=1), mnist_subset)
    c.fit(progress=False)
    assert not torch.equal(a.G.out.weight, c.G.out.weight)


@pytest.mark.parametrize("update", ["simultaneous", "alternating"])
def test_step_hook_sees_every_update_and_leaves_the_run_bitwise_unchanged(
    tiny_mnist_config: Config, mnist_subset: torch.Tensor, update: str
) -> None:
    cfg = tiny_mnist_config.replace(update=update, k=2 if update == "alternating" else 1, epochs=2)
    plain, hooked = Trainer(cfg, mnist_subset), Trainer(cfg, mnist_subset)
    history_plain = plain.fit(progress=False)
    seen: list[tuple[int, Update]] = []
    history_hooked = hooked.fit(progress=False, step_hook=lambda t, u: seen.append((t.step, u)))
    assert_same_state(plain, hooked)
    assert [without_seconds(r) for r in history_plain] == [without_seconds(r) for r in history_hooked]
    if update == "simultaneous":  # 5 batches per epoch, each one update of both nets
        assert [(step, u.kind) for step, u in seen] == [(s, "simultaneous") for s in range(1, 11)]
        assert all(None not in u for _, u in seen)
    else:  # 4 batches per epoch in groups of k = 2: D, D, G, D, D, G
        kinds = ["discriminator", "discriminator", "generator"] * 4
        assert [(step, u.kind) for step, u in seen] == list(zip([1, 2, 2, 3, 4, 4, 5, 6, 6, 7, 8, 8], kinds))
        assert all(u.g_loss is None and u.logits_real is not None for _, u in seen if u.kind == "discriminator")
        assert all(u.g_loss is not None and u.d_loss is None for _, u in seen if u.kind == "generator")
    for _, u in seen:
        if u.logits_real is not None:
            assert u.logits_real.shape == u.logits_fake.shape == (100,)
            assert torch.equal(u.d_loss, discriminator_loss(u.logits_real, u.logits_fake))
    # the epoch's mean D output on real data is the mean over the hook's updates of that epoch
    d_real = [torch.sigmoid(u.logits_real).mean() for step, u in seen if step <= 5 and u.logits_real is not None]
    assert history_plain[0]["d_real"] == pytest.approx(torch.stack(d_real).mean().item(), rel=1e-6)


def test_noise_and_masks_passed_in_from_the_run_rng_give_the_same_run(
    tiny_mnist_config: Config, mnist_subset: torch.Tensor
) -> None:
    """Drawing z and D's masks outside the step, from the trainer's RNG in the step's order, changes nothing."""
    for cfg in (tiny_mnist_config, tiny_mnist_config.replace(update="alternating", k=1)):
        inside, outside = Trainer(cfg, mnist_subset), Trainer(cfg, mnist_subset)
        for x in mnist_subset.split(100):
            for t in (inside, outside):
                t._set_hyperparameters()
            n = len(x)
            if cfg.update == "simultaneous":
                a = inside.simultaneous_step(x)
                z = sample_noise(cfg, n, outside.rng)
                b = outside.simultaneous_step(x, z, outside.D.dropout_masks(2 * n, outside.rng))
            else:
                a = (*inside.discriminator_step(x), inside.generator_step(n))
                z = sample_noise(cfg, n, outside.rng)
                d = outside.discriminator_step(x, z, outside.D.dropout_masks(2 * n, outside.rng))
                z = sample_noise(cfg, n, outside.rng)
                b = (*d, outside.generator_step(n, z, outside.D.dropout_masks(n, outside.rng)))
            assert all(torch.equal(u, v) for u, v in zip(a, b, strict=True))
        assert_same_state(inside, outside)
    # and other noise or masks do change the step
    t, u = Trainer(tiny_mnist_config, mnist_subset), Trainer(tiny_mnist_config, mnist_subset)
    x = mnist_subset[:100]
    gen = torch.Generator().manual_seed(5)
    t.simultaneous_step(x)
    u.simultaneous_step(x, sample_noise(tiny_mnist_config, 100, gen), u.D.dropout_masks(200, gen))
    assert not torch.equal(t.G.out.weight, u.G.out.weight)
    assert not torch.equal(t.D.layers[-1].weight, u.D.layers[-1].weight)


def test_resume_equals_uninterrupted_run(tiny_mnist_config: Config, mnist_subset: torch.Tensor, tmp_path: Path) -> None:
    cfg2 = tiny_mnist_config.replace(epochs=2)
    straight = Trainer(cfg2, mnist_subset)
    history = straight.fit(tmp_path / "straight", progress=False)

    Trainer(tiny_mnist_config, mnist_subset).fit(tmp_path / "split", progress=False)
    resumed = Trainer.resume(tmp_path / "split" / "checkpoint.pt", mnist_subset, cfg=cfg2)
    assert (resumed.epoch, resumed.step) == (1, 5)
    more = resumed.fit(tmp_path / "split", progress=False)

    assert_same_state(straight, resumed)
    assert len(more) == 1 and without_seconds(more[0]) == without_seconds(history[1])
    lines = [
        [without_seconds(json.loads(line)) for line in (tmp_path / d / "metrics.jsonl").read_text().splitlines()]
        for d in ("straight", "split")
    ]
    assert lines[0] == lines[1] and [r["epoch"] for r in lines[0]] == [1, 2]
    assert [without_seconds(r) for r in read_log(tmp_path / "split" / "metrics.jsonl")] == lines[1]
    for name in ("straight", "split"):
        state = load_checkpoint(tmp_path / name / "checkpoint.pt")
        assert (state["epoch"], state["step"]) == (2, 10)
        assert torch.equal(state["G"]["out.weight"], straight.G.out.weight)


def test_resume_without_config_uses_the_stored_one(
    tiny_mnist_config: Config, mnist_subset: torch.Tensor, tmp_path: Path
) -> None:
    trainer = Trainer(tiny_mnist_config, mnist_subset)
    trainer.fit(tmp_path, progress=False)
    resumed = Trainer.resume(tmp_path / "checkpoint.pt", mnist_subset)
    assert resumed.cfg == tiny_mnist_config
    assert resumed.fit(progress=False) == []  # already at cfg.epochs
    assert_same_state(trainer, resumed)


def test_averaged_generators_leave_the_trajectory_bitwise_unchanged(
    tiny_mnist_config: Config, mnist_subset: torch.Tensor
) -> None:
    plain = Trainer(tiny_mnist_config.replace(epochs=2), mnist_subset)
    averaged = Trainer(tiny_mnist_config.replace(epochs=2, g_ema=[0.5, 0.99]), mnist_subset)
    history_plain, history_averaged = plain.fit(progress=False), averaged.fit(progress=False)
    assert_same_state(plain, averaged)
    assert [without_seconds(r) for r in history_plain] == [without_seconds(r) for r in history_averaged]
    assert not torch.equal(averaged.G_ema[0.99].module.out.weight, averaged.G.out.weight)


def test_averaged_generator_is_the_exponential_average_of_g_after_each_step(
    tiny_mnist_config: Config, mnist_subset: torch.Tensor
) -> None:
    trainer = Trainer(tiny_mnist_config.replace(g_ema=[0.9]), mnist_subset)
    after_each_step = []
    trainer.fit(progress=False, step_hook=lambda t, _: after_each_step.append(t.G.out.weight.detach().clone()))
    expected = after_each_step[0]  # the average starts at G after the first step
    for w in after_each_step[1:]:
        expected = 0.9 * expected + 0.1 * w
    assert len(after_each_step) == 5
    torch.testing.assert_close(trainer.G_ema[0.9].module.out.weight, expected, rtol=1e-6, atol=1e-7)


def test_resume_keeps_the_averaged_generators(
    tiny_mnist_config: Config, mnist_subset: torch.Tensor, tmp_path: Path
) -> None:
    cfg = tiny_mnist_config.replace(g_ema=[0.8])
    straight = Trainer(cfg.replace(epochs=2), mnist_subset)
    straight.fit(progress=False)
    Trainer(cfg, mnist_subset).fit(tmp_path, progress=False)
    resumed = Trainer.resume(tmp_path / "checkpoint.pt", mnist_subset, cfg=cfg.replace(epochs=2))
    resumed.fit(progress=False)
    assert_same_state(straight, resumed)
    for a, b in zip(straight.G_ema[0.8].state_dict().values(), resumed.G_ema[0.8].state_dict().values()):
        assert torch.equal(a, b)


def test_load_generator_matches_trainer(tiny_mnist_config: Config, mnist_subset: torch.Tensor, tmp_path: Path) -> None:
    trainer = Trainer(tiny_mnist_config, mnist_subset)
    trainer.fit(progress=False)
    trainer.save(tmp_path / "c.pt")
    G, cfg, epoch, step = load_generator(tmp_path / "c.pt")
    assert cfg == tiny_mnist_config and not G.training and (epoch, step) == (1, 5)
    z = torch.rand(4, 100)
    assert torch.equal(G(z), trainer.G(z))


# --- fit and the log -----------------------------------------------------------------------------


def test_fit_writes_one_json_line_per_epoch_and_a_checkpoint(
    tiny_mnist_config: Config, mnist_subset: torch.Tensor, tmp_path: Path
) -> None:
    cfg = tiny_mnist_config.replace(epochs=2)
    trainer = Trainer(cfg, mnist_subset)
    out = tmp_path / "a" / "b"
    history = trainer.fit(out, hook=lambda t: {"hooked": t.epoch * 10}, progress=False)
    lines = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert lines == history and len(lines) == 2
    for epoch, record in enumerate(lines, start=1):
        assert set(record) == RECORD_KEYS | {"hooked"}
        assert (record["epoch"], record["step"], record["hooked"]) == (epoch, 5 * epoch, 10 * epoch)
        assert record["lr"] == pytest.approx(learning_rate(cfg, 5 * epoch), rel=1e-12)
        assert record["momentum"] == pytest.approx(momentum(cfg, epoch), rel=1e-12)
        assert 0 < record["d_real"] < 1 and 0 < record["d_fake"] < 1 and record["seconds"] >= 0
        assert math.isfinite(record["d_loss"]) and math.isfinite(record["g_loss"])
    state = load_checkpoint(out / "checkpoint.pt")
    assert state["config"] == cfg.to_dict() and (state["epoch"], state["step"]) == (2, 10)
    assert {"G", "D", "opt_g", "opt_d", "rng"} <= set(state)
    assert sorted(os.listdir(out)) == ["checkpoint.pt", "metrics.jsonl"]


# --- checkpoint files ----------------------------------------------------------------------------


@pytest.mark.parametrize("error", [OSError("disk full"), KeyboardInterrupt()])
def test_checkpoint_write_is_atomic(
    toy_config: Config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, error: BaseException
) -> None:
    trainer = Trainer(toy_config, training_data(toy_config))
    path = tmp_path / "checkpoint.pt"
    trainer.save(path)
    before = path.read_bytes()
    trainer.train_epoch()

    def broken_fsync(fd: int) -> None:  # the temp file holds the whole checkpoint, not yet on disk
        raise error

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(type(error)):
        trainer.save(path)
    with pytest.raises(type(error)):
        trainer.save(tmp_path / "new.pt")
    assert path.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["checkpoint.pt"]
    monkeypatch.undo()
    assert load_checkpoint(path)["epoch"] == 0


def corrupt_files(folder: Path, good: Path) -> dict[str, Path]:
    """Files that are not usable checkpoints, by kind."""
    raw = good.read_bytes()
    files = {
        "truncated": raw[: len(raw) // 2],
        "empty": b"",
        "text": b"epoch: 3\nG: weights\n",
        "pickle": pickle.dumps({"config": {}, "G": object()}),
    }
    out = {}
    for name, data in files.items():
        out[name] = folder / f"{name}.pt"
        out[name].write_bytes(data)
    torch.save([1, 2, 3], folder / "list.pt")
    torch.save({"G": {}}, folder / "no_config.pt")
    out["list"], out["no_config"] = folder / "list.pt", folder / "no_config.pt"
    out["missing"] = folder / "missing.pt"
    out["directory"] = folder
    return out


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_bad_checkpoints_raise_checkpoint_error_naming_the_file(toy_config: Config, tmp_path: Path) -> None:
    data = training_data(toy_config)
    good = tmp_path / "good.pt"
    Trainer(toy_config, data).save(good)
    for kind, path in corrupt_files(tmp_path, good).items():
        for load in (load_checkpoint, load_generator, lambda p: Trainer.resume(p, data)):
            with pytest.raises(CheckpointError) as e:
                load(path)
            assert str(path) in str(e.value), kind
    assert load_checkpoint(good)["epoch"] == 0


def test_the_reported_epoch_is_chosen_on_validation_never_on_test() -> None:
    def score(mean: float, valid: float) -> dict:
        return {"parzen_mean": mean, "parzen_se": 1.0, "sigma": 0.2, "parzen_valid": valid}

    log = [
        {"epoch": 1, "d_loss": 0.5},
        {"epoch": 2, **score(100.0, 90.0), "ema": {"0.9": score(150.0, 140.0)}},
        {"epoch": 3, "d_loss": 0.5},
        {"epoch": 4, **score(120.0, 80.0), "ema": {"0.9": score(110.0, 145.0)}},  # best test, worse validation
    ]
    assert [s["epoch"] for s in evaluations(log)] == [2, 4]
    assert best_evaluation(log) == {"epoch": 2, **score(100.0, 90.0)}
    assert best_evaluation(log, average=0.9)["epoch"] == 4
    assert evaluations(log, average=0.99) == []
    with pytest.raises(ValueError, match="eval_every"):
        best_evaluation([{"epoch": 1, "parzen_mean": 1.0, "parzen_se": 1.0, "sigma": 0.2}])


def curve(valid: Callable[[int], float], test: Callable[[int], float], epochs: int) -> list[dict]:
    """A run log with an evaluation every 10 epochs."""
    log = []
    for e in range(1, epochs + 1):
        record = {"epoch": e}
        if e % 10 == 0:
            record |= {"parzen_mean": test(e), "parzen_se": 2.0, "sigma": 0.2, "parzen_valid": valid(e)}
        log.append(record)
    return log


def test_stop_rule_target_plateau_and_budget() -> None:
    rising = curve(lambda e: e / 10, lambda e: e / 10 + 5, 1000)
    assert stop_reason(rising) is None
    assert "epoch 1000 scores 105.0" in stop_reason(rising, target=105.0)
    assert stop_reason(rising, target=105.1) is None
    # flat after epoch 1000 (gains of 0.001 per evaluation: 0.03 per 300 epochs) -> a plateau, but only from 1500 on
    flat = curve(lambda e: min(e, 1000) / 10 + e * 1e-4, lambda e: 100.0, 1490)
    assert stop_reason(flat) is None
    flat = curve(lambda e: min(e, 1000) / 10 + e * 1e-4, lambda e: 100.0, 1500)
    assert stop_reason(flat).startswith("plateau")
    # the bar is the best validation score at least 300 epochs back (epoch 1200: 100.12), plus 1 nat
    assert plateau_bar(flat) == pytest.approx(101.12)
    assert plateau_bar(flat, patience=1491) is None  # no evaluation that old (the first is at epoch 10)
    assert plateau_bar(flat, min_delta=0.0) < flat[-1]["parzen_valid"] < plateau_bar(flat)
    # still climbing by more than 1 nat per 300 epochs at 1500 -> go on, until the 3000-epoch budget
    slow = curve(lambda e: e / 200, lambda e: 0.0, 1500)
    assert stop_reason(slow) is None
    assert stop_reason(curve(lambda e: e / 200, lambda e: 0.0, 3000)) == "3000 epochs done"
    assert stop_reason([]) is None

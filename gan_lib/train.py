"""Training: Algorithm 1 (alternating, k D-steps per G-step) and the original code's simultaneous update.

A `Trainer` owns G, D, their optimisers, one seeded RNG and the schedules; `fit` runs whole epochs,
logs one JSON line per epoch, and checkpoints atomically so that a resumed run equals an uninterrupted one.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from tqdm import tqdm

from gan_lib.checkpoint import CheckpointError, load_checkpoint, save_atomic, write_atomic
from gan_lib.config import Config, config_from_dict
from gan_lib.data import Mixture, load_mnist
from gan_lib.models import (
    Discriminator,
    build_discriminator,
    build_generator,
    sample_noise,
    sigmoid_bias_from_marginals,
)
from gan_lib.objectives import discriminator_loss, generator_loss, grad_scale, slope_ratio
from gan_lib.optim import learning_rate, make_optimizer, momentum

EpochHook = Callable[["Trainer"], dict[str, Any] | None]

#: Below this logit of D on a sample, D's loss gradient there (0.5 sigmoid(l) / n, times D's weights) nears float32's
#: smallest normal number, and G's gradient can no longer be recovered from it by the slope ratio.
SHARED_BACKWARD_MIN_LOGIT = -40.0


# ---------------------------------------------------------------- data


def toy_distribution(cfg: Config) -> Mixture:
    """The 1-D mixture p_data that the toy_* keys describe, with its exact density."""
    return Mixture(tuple(cfg.toy_weights), tuple(cfg.toy_means), tuple(cfg.toy_stds))


def training_data(cfg: Config) -> Tensor:
    """The training set as an N x dim float32 tensor: MNIST train[0:50000], or toy_n draws from the toy mixture."""
    if cfg.dataset == "mnist":
        return torch.from_numpy(load_mnist(cfg.data_dir).train_x)
    return toy_distribution(cfg).sample(cfg.toy_n, cfg.seed)


# ---------------------------------------------------------------- trainer


class Trainer:
    """G, D, optimisers, RNG and counters of one run; `fit` trains epoch by epoch until `cfg.epochs`."""

    def __init__(self, cfg: Config, data: Tensor, device: str | torch.device = "cpu") -> None:
        self.cfg, self.device = cfg, torch.device(device)
        self.data = data.to(self.device)
        if len(self.data) < cfg.batch_size * cfg.k:
            raise ValueError(
                f"{len(self.data)} training examples are fewer than one step needs ({cfg.batch_size * cfg.k})"
            )
        bias = sigmoid_bias_from_marginals(data) if cfg.dataset == "mnist" else None
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(cfg.seed)
            self.G = build_generator(cfg, data.shape[1], bias).to(self.device)
            self.D = build_discriminator(cfg, data.shape[1]).to(self.device)
        self.opt_g = make_optimizer(cfg, self.G.parameters())
        self.opt_d = make_optimizer(cfg, self.D.parameters())
        self.G_ema = {decay: AveragedModel(self.G, multi_avg_fn=get_ema_multi_avg_fn(decay)) for decay in cfg.g_ema}
        self.rng = torch.Generator(self.device).manual_seed(cfg.seed + 1)
        self.epoch = 0
        self.step = 0

    # ------------------------------------------------------------ one update

    def _noise(self, n: int) -> Tensor:
        return sample_noise(self.cfg, n, self.rng, self.device)

    def _masks(self, n: int) -> list[Tensor] | None:
        return self.D.dropout_masks(n, self.rng) if self.cfg.d_dropout else None

    def _set_hyperparameters(self) -> None:
        # MomentumAdjustor counts epochs from 1: Pylearn2 calls on_monitor once before the first epoch
        lr, mu = learning_rate(self.cfg, self.step), momentum(self.cfg, self.epoch + 1)
        for opt in (self.opt_g, self.opt_d):
            for group in opt.param_groups:
                group["lr"] = lr
                if "momentum" in group:
                    group["momentum"] = mu

    def _generator_grads(self, fake: Tensor, grad_fake: Tensor) -> None:
        """Back-propagate dL_G/dS (S = `fake`, the generated batch) into G's parameters. AdversaryCost2's optional
        rescaling is a hook on S, so hooks put on S earlier (e.g. by a forward hook on G) see dL_G/dS unscaled."""
        if self.cfg.scale_grads:
            fake.register_hook(lambda grad: grad * grad_scale(grad, self.cfg.target_scale))
        _set_grads(self.G, torch.autograd.grad(fake, list(self.G.parameters()), grad_fake))

    def simultaneous_step(self, x: Tensor) -> tuple[Tensor, ...]:
        """The original code's update: D's and G's gradients from one minibatch, samples and dropout masks; one step.

        D runs once on [x; S], S = G(z), and one backward pass through D serves both players: D's output is one logit
        per row, so dL_G/dS is dL_D/dS times the ratio of the two losses' slopes at each sample's logit."""
        n = len(x)
        fake = self.G(self._noise(n))
        samples = fake.detach().requires_grad_()
        logits = self.D(torch.cat([x, samples]), self._masks(2 * n))
        logits_real, logits_fake = logits[:n], logits[n:]
        d_loss = discriminator_loss(logits_real, logits_fake)
        g_loss = generator_loss(logits_fake, self.cfg.g_loss)
        d_params = list(self.D.parameters())
        if logits_fake.min() > SHARED_BACKWARD_MIN_LOGIT:
            *d_grads, d_grad_samples = torch.autograd.grad(d_loss, [*d_params, samples])
            grad_fake = d_grad_samples * slope_ratio(logits_fake.detach(), self.cfg.g_loss).unsqueeze(1)
        else:  # D's loss gradient at such a sample underflows float32: back-propagate G's loss on its own
            d_grads = torch.autograd.grad(d_loss, d_params, retain_graph=True)
            (grad_fake,) = torch.autograd.grad(g_loss, samples)
        _set_grads(self.D, d_grads)
        self._generator_grads(fake, grad_fake)
        self.opt_d.step()
        self.opt_g.step()
        return d_loss.detach(), g_loss.detach(), logits_real.detach(), logits_fake.detach()

    def discriminator_step(self, x: Tensor) -> tuple[Tensor, ...]:
        """One ascent step of Algorithm 1's inner loop on V(D, G) with G fixed."""
        n = len(x)
        with torch.no_grad():
            fake = self.G(self._noise(n))
        logits = self.D(torch.cat([x, fake]), self._masks(2 * n))
        d_loss = discriminator_loss(logits[:n], logits[n:])
        _set_grads(self.D, torch.autograd.grad(d_loss, list(self.D.parameters())))
        self.opt_d.step()
        return d_loss.detach(), logits[:n].detach(), logits[n:].detach()

    def generator_step(self, n: int) -> Tensor:
        """Algorithm 1's outer step: fresh noise, descend G's loss with D fixed."""
        fake = self.G(self._noise(n))
        samples = fake.detach().requires_grad_()
        g_loss = generator_loss(self.D(samples, self._masks(n)), self.cfg.g_loss)
        self._generator_grads(fake, torch.autograd.grad(g_loss, samples)[0])
        self.opt_g.step()
        return g_loss.detach()

    # ------------------------------------------------------------ epochs

    def _batches(self) -> Iterator[Tensor]:
        """This epoch's minibatches: a fresh permutation from the run's RNG, the last partial batch dropped."""
        perm = torch.randperm(len(self.data), generator=self.rng, device=self.device)
        b = self.cfg.batch_size
        for i in range(len(self.data) // b):
            yield self.data[perm[i * b : (i + 1) * b]]

    @property
    def k(self) -> int:
        """D-steps per G-step: cfg.k for Algorithm 1, 1 for the simultaneous update."""
        return self.cfg.k if self.cfg.update == "alternating" else 1

    def steps_per_epoch(self) -> int:
        """Minibatches used per epoch: whole batches, in whole groups of k."""
        return len(self.data) // self.cfg.batch_size // self.k * self.k

    def train_epoch(self, progress: tqdm | None = None) -> dict[str, Any]:
        """One pass over the data; returns the epoch's mean losses and mean D outputs."""
        self.G.train()
        self.D.train()
        sums = torch.zeros(4, device=self.device)
        start, batches = time.perf_counter(), self._batches()
        n_iterations = self.steps_per_epoch() // self.k
        for _ in range(n_iterations):
            for _ in range(self.k):
                self._set_hyperparameters()
                if self.cfg.update == "simultaneous":
                    d_loss, g_loss, logits_real, logits_fake = self.simultaneous_step(next(batches))
                else:
                    d_loss, logits_real, logits_fake = self.discriminator_step(next(batches))
                self.step += 1
            if self.cfg.update == "alternating":
                g_loss = self.generator_step(self.cfg.batch_size)
            for average in self.G_ema.values():  # the first update copies G; nothing flows back into training
                average.update_parameters(self.G)
            sums += torch.stack([d_loss, g_loss, torch.sigmoid(logits_real).mean(), torch.sigmoid(logits_fake).mean()])
            if progress is not None:
                progress.update(self.k)
        self.epoch += 1
        d_loss, g_loss, d_real, d_fake = (sums / n_iterations).tolist()
        return {
            "epoch": self.epoch,
            "step": self.step,
            "lr": learning_rate(self.cfg, self.step),
            "momentum": momentum(self.cfg, self.epoch),
            "d_loss": d_loss,
            "g_loss": g_loss,
            "d_real": d_real,
            "d_fake": d_fake,
            "seconds": time.perf_counter() - start,
        }

    def fit(
        self,
        out_dir: str | Path | None = None,
        hook: EpochHook | None = None,
        progress: bool = True,
    ) -> list[dict[str, Any]]:
        """Train until `cfg.epochs`; after each epoch run `hook`, append a JSON line and checkpoint (if out_dir).

        A log line is written before its checkpoint; lines past the epoch this trainer starts from (left by a run
        that stopped between the two writes) are dropped first, so a resumed run's log has each epoch once."""
        out = Path(out_dir) if out_dir is not None else None
        if out is not None:
            out.mkdir(parents=True, exist_ok=True)
            _trim_log(out / "metrics.jsonl", self.epoch)
        history = []
        remaining = self.cfg.epochs - self.epoch
        with tqdm(total=remaining * self.steps_per_epoch(), disable=not progress, unit="step", desc="train") as bar:
            while self.epoch < self.cfg.epochs:
                record = self.train_epoch(bar)
                if hook is not None:
                    record.update(hook(self) or {})
                bar.set_postfix(epoch=self.epoch, d_loss=f"{record['d_loss']:.3f}", g_loss=f"{record['g_loss']:.3f}")
                history.append(record)
                if out is not None:
                    with open(out / "metrics.jsonl", "a") as f:
                        f.write(json.dumps(record) + "\n")
                    self.save(out / "checkpoint.pt")
        return history

    # ------------------------------------------------------------ checkpoints

    def state_dict(self) -> dict[str, Any]:
        return {
            "config": self.cfg.to_dict(),
            "epoch": self.epoch,
            "step": self.step,
            "G": self.G.state_dict(),
            "D": self.D.state_dict(),
            "opt_g": self.opt_g.state_dict(),
            "opt_d": self.opt_d.state_dict(),
            "rng": self.rng.get_state(),
            "G_ema": {str(decay): average.state_dict() for decay, average in self.G_ema.items()},
        }

    def save(self, path: str | Path) -> None:
        """Write a checkpoint atomically: a temp file in the same folder, then rename over the old one."""
        save_atomic(self.state_dict(), Path(path))

    @classmethod
    def resume(
        cls, path: str | Path, data: Tensor, device: str | torch.device = "cpu", cfg: Config | None = None
    ) -> Trainer:
        """Rebuild a trainer from a checkpoint; `cfg` (e.g. with more epochs) replaces the stored one if given."""
        state = load_checkpoint(path, device)
        if "D" not in state:
            raise CheckpointError(f"checkpoint {path} holds only a generator (an export); it cannot be resumed")
        trainer = cls(cfg or config_from_dict(state["config"], source=str(path)), data, device)
        try:
            trainer.G.load_state_dict(state["G"])
            trainer.D.load_state_dict(state["D"])
            trainer.opt_g.load_state_dict(state["opt_g"])
            trainer.opt_d.load_state_dict(state["opt_d"])
            for decay, average in trainer.G_ema.items():
                if str(decay) in state.get("G_ema", {}):
                    average.load_state_dict(state["G_ema"][str(decay)])
        except (RuntimeError, ValueError) as e:
            raise CheckpointError(f"checkpoint {path} does not fit this config's models: {e}") from e
        trainer.rng.set_state(state["rng"].cpu())
        trainer.epoch, trainer.step = state["epoch"], state["step"]
        return trainer


def _set_grads(module: torch.nn.Module, grads: Sequence[Tensor]) -> None:
    """Store gradients computed with torch.autograd.grad as the parameters' .grad, for the optimiser."""
    for p, g in zip(module.parameters(), grads, strict=True):
        p.grad = g


def _trim_log(path: Path, epoch: int) -> None:
    """Keep only the JSON lines of epochs <= `epoch` in a metrics log (rewritten atomically if anything goes)."""
    if not path.exists():
        return
    lines = path.read_text().splitlines(keepends=True)
    kept = [line for line in lines if json.loads(line)["epoch"] <= epoch]
    if len(kept) < len(lines):
        write_atomic(path, lambda f: f.write("".join(kept).encode()))


def read_log(path: str | Path) -> list[dict[str, Any]]:
    """The records of a run's ``metrics.jsonl``, one dict per epoch, in order."""
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]


def fit_discriminator(cfg: Config, p_data: Mixture, p_g: Mixture, steps: int) -> tuple[Discriminator, list[float]]:
    """Train D alone against two fixed 1-D distributions (fresh samples each step): the inner loop of Algorithm 1 run to
    convergence, whose limit Proposition 1 predicts. Returns D (eval mode) and its loss per step."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)
        D = build_discriminator(cfg, 1)
    opt = make_optimizer(cfg, D.parameters())
    rng = torch.Generator().manual_seed(cfg.seed + 1)
    losses = []
    for step in range(steps):
        for group in opt.param_groups:
            group["lr"] = learning_rate(cfg, step)
        seeds = torch.randint(2**31 - 1, (2,), generator=rng).tolist()
        x, fake = p_data.sample(cfg.batch_size, seeds[0]), p_g.sample(cfg.batch_size, seeds[1])
        masks = D.dropout_masks(2 * cfg.batch_size, rng) if cfg.d_dropout else None
        logits = D(torch.cat([x, fake]), masks)
        loss = discriminator_loss(logits[: cfg.batch_size], logits[cfg.batch_size :])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return D.eval(), losses

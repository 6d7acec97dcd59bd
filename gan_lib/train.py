"""Training: Algorithm 1 (alternating, k D-steps per G-step) and the original code's simultaneous update.

A `Trainer` owns G, D, their optimisers, one seeded RNG and the schedules; `fit` runs whole epochs,
logs one JSON line per epoch, and checkpoints atomically so that a resumed run equals an uninterrupted one.
"""

from __future__ import annotations

import json
import math
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import torch
from torch import Tensor
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from tqdm import tqdm

from gan_lib.checkpoint import all_finite, checkpoint_config, generator_export, load_checkpoint
from gan_lib.config import Config, ConfigError, resume_config
from gan_lib.data import Mixture
from gan_lib.files import CheckpointError, folder_lock, remove_temp_files, save_atomic, write_atomic, write_error
from gan_lib.models import (
    Discriminator,
    Generator,
    build_discriminator,
    build_generator,
    sample_noise,
    seeded,
    sigmoid_bias_from_marginals,
)
from gan_lib.objectives import discriminator_loss, generator_loss, grad_scale, slope_ratio
from gan_lib.optim import learning_rate, make_optimizer, momentum, set_hyperparameters

#: What the Parzen protocol records for each scored generator (see `gan_lib.metrics.ParzenResult.to_dict`).
SCORE_KEYS = ("parzen_mean", "parzen_se", "sigma", "parzen_valid")

EpochHook = Callable[["Trainer"], dict[str, Any] | None]
CHECKPOINT_NAME, LOG_NAME, GENERATORS_NAME = "checkpoint.pt", "metrics.jsonl", "generators"


class Update(NamedTuple):
    """What one update computed, as a step hook receives it; None where that kind of update has no such value."""

    kind: str  # "simultaneous", "discriminator" or "generator"
    d_loss: Tensor | None = None
    g_loss: Tensor | None = None
    logits_real: Tensor | None = None
    logits_fake: Tensor | None = None


#: Called after every update with the trainer and what the update computed. It must not draw from `trainer.rng` or
#: change the networks if the run is to stay the same; `.item()` on the update's tensors waits for the device.
StepHook = Callable[["Trainer", Update], None]

#: Below this logit of D on a sample, D's loss gradient there (0.5 sigmoid(l) / n, times D's weights) nears float32's
#: smallest normal number, and G's gradient can no longer be recovered from it by the slope ratio.
SHARED_BACKWARD_MIN_LOGIT = -40.0


class DivergenceError(RuntimeError):
    """An epoch ended with a loss or a weight that is not finite; nothing of that epoch was written."""


class ResumeWarning(UserWarning):
    """Something of a run folder that resuming could not keep as it was (a damaged log line, a new average)."""


# ---------------------------------------------------------------- trainer


class Trainer:
    """G, D, optimisers, RNG and counters of one run; `fit` trains epoch by epoch until `cfg.epochs`."""

    def __init__(self, cfg: Config, data: Tensor, device: str | torch.device = "cpu") -> None:
        self.cfg, self.device = cfg, torch.device(device)
        self.data = data.to(self.device)
        if len(self.data) < cfg.batch_size * cfg.k:
            raise ConfigError(
                f"config key 'batch_size': {len(self.data)} training examples are fewer than one step needs "
                f"({cfg.batch_size * cfg.k}); lower batch_size"
            )
        bias = sigmoid_bias_from_marginals(data) if cfg.dataset == "mnist" else None
        with seeded(cfg.seed):
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
            set_hyperparameters(opt, lr, mu)

    def _generator_grads(self, fake: Tensor, grad_fake: Tensor) -> None:
        """Back-propagate dL_G/dS (S = `fake`, the generated batch) into G's parameters. AdversaryCost2's optional
        rescaling is a hook on S, so hooks put on S earlier (e.g. by a forward hook on G) see dL_G/dS unscaled."""
        if self.cfg.scale_grads:
            fake.register_hook(lambda grad: grad * grad_scale(grad, self.cfg.target_scale))
        _set_grads(self.G, torch.autograd.grad(fake, list(self.G.parameters()), grad_fake))

    def simultaneous_step(
        self, x: Tensor, noise: Tensor | None = None, masks: list[Tensor] | None = None
    ) -> tuple[Tensor, ...]:
        """The original code's update: D's and G's gradients from one minibatch, samples and dropout masks; one step.

        `noise` (n rows) and `masks` (D's masks for the 2n rows [x; S], real rows first) are drawn from the run's RNG,
        in that order, unless given. D runs once on [x; S], S = G(z), and one backward pass through D serves both
        players: D's output is one logit per row, so dL_G/dS is dL_D/dS times the ratio of the two losses' slopes at
        each sample's logit."""
        n = len(x)
        fake = self.G(self._noise(n) if noise is None else noise)
        samples = fake.detach().requires_grad_()
        logits = self.D(torch.cat([x, samples]), self._masks(2 * n) if masks is None else masks, data_rows=n)
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

    def discriminator_step(
        self, x: Tensor, noise: Tensor | None = None, masks: list[Tensor] | None = None
    ) -> tuple[Tensor, ...]:
        """One ascent step of Algorithm 1's inner loop on V(D, G) with G fixed; `noise` and `masks` (for [x; G(z)])
        as in `simultaneous_step`."""
        n = len(x)
        with torch.no_grad():
            fake = self.G(self._noise(n) if noise is None else noise)
        logits = self.D(torch.cat([x, fake]), self._masks(2 * n) if masks is None else masks)
        d_loss = discriminator_loss(logits[:n], logits[n:])
        _set_grads(self.D, torch.autograd.grad(d_loss, list(self.D.parameters())))
        self.opt_d.step()
        return d_loss.detach(), logits[:n].detach(), logits[n:].detach()

    def generator_step(self, n: int, noise: Tensor | None = None, masks: list[Tensor] | None = None) -> Tensor:
        """Algorithm 1's outer step: fresh noise (n rows), descend G's loss with D fixed; `noise` and `masks` (for the
        n samples) drawn from the run's RNG unless given."""
        fake = self.G(self._noise(n) if noise is None else noise)
        samples = fake.detach().requires_grad_()
        g_loss = generator_loss(self.D(samples, self._masks(n) if masks is None else masks), self.cfg.g_loss)
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

    def steps_per_epoch(self) -> int:
        """Minibatches used per epoch: whole batches, in whole groups of k (1 for the simultaneous update)."""
        return len(self.data) // self.cfg.batch_size // self.cfg.k * self.cfg.k

    def train_epoch(self, progress: tqdm | None = None, step_hook: StepHook | None = None) -> dict[str, Any]:
        """One pass over the data, calling `step_hook` after every update; returns the epoch's mean losses and mean
        D outputs."""
        self.G.train()
        self.D.train()
        sums = torch.zeros(4, device=self.device)
        start, batches = time.perf_counter(), self._batches()
        n_iterations = self.steps_per_epoch() // self.cfg.k
        for _ in range(n_iterations):
            for _ in range(self.cfg.k):
                self._set_hyperparameters()
                if self.cfg.update == "simultaneous":
                    d_loss, g_loss, logits_real, logits_fake = self.simultaneous_step(next(batches))
                    update = Update("simultaneous", d_loss, g_loss, logits_real, logits_fake)
                else:
                    d_loss, logits_real, logits_fake = self.discriminator_step(next(batches))
                    update = Update("discriminator", d_loss, None, logits_real, logits_fake)
                self.step += 1
                if step_hook is not None:
                    step_hook(self, update)
            if self.cfg.update == "alternating":
                g_loss = self.generator_step(self.cfg.batch_size)
                if step_hook is not None:
                    step_hook(self, Update("generator", g_loss=g_loss))
            for average in self.G_ema.values():  # the first update copies G; nothing flows back into training
                average.update_parameters(self.G)
            sums += torch.stack([d_loss, g_loss, torch.sigmoid(logits_real).mean(), torch.sigmoid(logits_fake).mean()])
            if progress is not None:
                progress.update(self.cfg.k)
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
        step_hook: StepHook | None = None,
    ) -> list[dict[str, Any]]:
        """Train until `cfg.epochs`, calling `step_hook` after every update; after each epoch run `hook`, append a JSON
        line and checkpoint (if out_dir).

        out_dir is held with `folder_lock` meanwhile. First the temp files of writes that a killed run left there go,
        and the log is repaired (`repair_log`). An epoch whose losses or weights are not finite raises DivergenceError
        before its hook, log line or checkpoint: the checkpoint in out_dir stays the last finite one. A log line is
        written before its checkpoint."""
        out = Path(out_dir) if out_dir is not None else None
        if out is None:
            return self._fit(None, hook, progress, step_hook)
        with folder_lock(out):
            for pattern in (CHECKPOINT_NAME, LOG_NAME, f"{GENERATORS_NAME}/epoch*.pt"):
                remove_temp_files(out, pattern)
            repair_log(out / LOG_NAME, self.epoch)
            return self._fit(out, hook, progress, step_hook)

    def _fit(
        self, out: Path | None, hook: EpochHook | None, progress: bool, step_hook: StepHook | None
    ) -> list[dict[str, Any]]:
        history = []
        remaining = self.cfg.epochs - self.epoch
        with tqdm(total=remaining * self.steps_per_epoch(), disable=not progress, unit="step", desc="train") as bar:
            while self.epoch < self.cfg.epochs:
                record = self.train_epoch(bar, step_hook)
                self._check_finite(record, out)
                if hook is not None:
                    record.update(hook(self) or {})
                bar.set_postfix(epoch=self.epoch, d_loss=f"{record['d_loss']:.3f}", g_loss=f"{record['g_loss']:.3f}")
                history.append(record)
                if out is not None:
                    _append_line(out / LOG_NAME, json.dumps(record, allow_nan=False))
                    self.save(out / CHECKPOINT_NAME)
        return history

    def _check_finite(self, record: dict[str, Any], out: Path | None) -> None:
        """Raise DivergenceError if the epoch just trained left a non-finite loss or weight (one sync per epoch)."""
        losses = {k: record[k] for k in ("d_loss", "g_loss")}
        if all(math.isfinite(v) for v in losses.values()) and all_finite(self.state_dict()):
            return
        what = "the weights are" if all(math.isfinite(v) for v in losses.values()) else "the losses are"
        if out is not None and (out / CHECKPOINT_NAME).exists():
            kept = f"the checkpoint of epoch {self.epoch - 1} in {out} is kept"
        else:
            kept = "no checkpoint was written"
        raise DivergenceError(
            f"training diverged in epoch {self.epoch}: {what} not finite "
            f"(d_loss {losses['d_loss']:.4g}, g_loss {losses['g_loss']:.4g}); nothing of this epoch was saved and "
            f"{kept}. Start a new run with a lower learning rate (lr is {self.cfg.lr:g})"
        )

    # ------------------------------------------------------------ checkpoints

    def state_dict(self) -> dict[str, Any]:
        """A training checkpoint (its keys: `gan_lib.checkpoint`)."""
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

    def generators(self) -> dict[str, tuple[Generator, dict[str, Any]]]:
        """G and each average of G by name ("G", "ema0.999"), each with the extra entries of its export."""
        averages = {f"ema{d}": (a.module, {"ema_decay": d}) for d, a in self.G_ema.items()}
        return {"G": (self.G, {}), **averages}

    def save_generators(self, folder: str | Path) -> None:
        """Keep G and each average as fp16 generator-only checkpoints, folder/epochNNNN_<name>.pt."""
        state = self.state_dict()
        for name, (G, extra) in self.generators().items():
            export = generator_export(state | {"G": G.state_dict()}, half=True, **extra)
            save_atomic(export, Path(folder) / f"epoch{self.epoch:04d}_{name}.pt")

    @classmethod
    def resume(
        cls, path: str | Path, data: Tensor, device: str | torch.device = "cpu", cfg: Config | None = None
    ) -> Trainer:
        """Rebuild a trainer from a checkpoint file (see `from_state`)."""
        return cls.from_state(load_checkpoint(path, device, training=True), data, device, cfg, source=str(path))

    @classmethod
    def from_state(
        cls,
        state: Mapping[str, Any],
        data: Tensor,
        device: str | torch.device = "cpu",
        cfg: Config | None = None,
        source: str = "checkpoint",
    ) -> Trainer:
        """Rebuild a trainer from a training checkpoint (`load_checkpoint(..., training=True)`). `cfg` may change only
        the stored config's RESUMABLE keys (`resume_config`; e.g. more epochs); an average of G that the checkpoint
        lacks starts here, and one that `cfg` lacks is dropped (each with a ResumeWarning)."""
        stored = checkpoint_config(state, source)
        cfg = stored if cfg is None else resume_config(stored, cfg, source)
        trainer = cls(cfg, data, device)
        averages = state.get("G_ema", {})
        try:
            trainer.G.load_state_dict(state["G"])
            trainer.D.load_state_dict(state["D"])
            trainer.opt_g.load_state_dict(state["opt_g"])
            trainer.opt_d.load_state_dict(state["opt_d"])
            for decay, average in trainer.G_ema.items():
                if str(decay) in averages:
                    average.load_state_dict(averages[str(decay)])
            trainer.rng.set_state(state["rng"].cpu())
        except (RuntimeError, ValueError, KeyError, TypeError, AttributeError) as e:
            raise CheckpointError(f"{source} does not fit this config's models: {e}") from e
        trainer.epoch, trainer.step = int(state["epoch"]), int(state["step"])
        new = [decay for decay in cfg.g_ema if str(decay) not in averages]
        dropped = [key for key in averages if key not in {str(decay) for decay in cfg.g_ema}]
        if new and trainer.step > 0:
            warnings.warn(
                f"g_ema: the average(s) with decay {new} start at epoch {trainer.epoch}, not at the start of the run",
                ResumeWarning,
                stacklevel=2,
            )
        if dropped:
            warnings.warn(
                f"g_ema: the average(s) with decay {dropped} are not in the config; the next checkpoint drops them",
                ResumeWarning,
                stacklevel=2,
            )
        return trainer


def _set_grads(module: torch.nn.Module, grads: Sequence[Tensor]) -> None:
    """Store gradients computed with torch.autograd.grad as the parameters' .grad, for the optimiser."""
    for p, g in zip(module.parameters(), grads, strict=True):
        p.grad = g


def repair_log(path: Path, epoch: int) -> None:
    """Make a metrics log hold the JSON lines of epochs <= `epoch` only (rewritten atomically if anything goes).

    Lines past `epoch` are left by a run that stopped between a log line and its checkpoint, and go silently;
    a damaged line (a kill or a full disk mid-append) goes with a ResumeWarning, as does a gap it leaves."""
    try:
        lines = path.read_bytes().decode(errors="replace").splitlines(keepends=True)
    except FileNotFoundError:
        lines = []
    kept, damaged, epochs = [], [], set()
    for number, line in enumerate(lines, start=1):
        try:
            record = json.loads(line)
            e = record["epoch"]
            if not isinstance(e, int) or isinstance(e, bool) or e < 1:
                raise TypeError
        except (ValueError, TypeError, KeyError):
            damaged.append(number)
            continue
        if e <= epoch:
            kept.append(line if line.endswith("\n") else line + "\n")
            epochs.add(e)
    missing = sorted(set(range(1, epoch + 1)) - epochs)
    if damaged:
        warnings.warn(
            f"{path}: dropped damaged line(s) {damaged} of {len(lines)}; the log keeps epochs up to {epoch}",
            ResumeWarning,
            stacklevel=3,
        )
    if missing:
        gap = f"{missing[0]}-{missing[-1]}" if len(missing) > 1 else str(missing[0])
        warnings.warn(f"{path} has no record of epoch(s) {gap}; they stay missing", ResumeWarning, stacklevel=3)
    if kept != lines:
        write_atomic(path, lambda f: f.write("".join(kept).encode()))


def read_log(path: str | Path) -> list[dict[str, Any]]:
    """The records of a run's ``metrics.jsonl``, one dict per epoch, in order."""
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]


def evaluations(records: list[dict[str, Any]], average: float | None = None) -> list[dict[str, Any]]:
    """The Parzen scores of G (or of its average with decay `average`) at each evaluated epoch of a run log: dicts with
    the epoch and SCORE_KEYS (parzen_valid is None in logs written before it was recorded)."""
    scores = []
    for record in records:
        score = record if average is None else record.get("ema", {}).get(str(average))
        if score is not None and "parzen_mean" in score:
            scores.append({"epoch": record["epoch"], **{k: score.get(k) for k in SCORE_KEYS}})
    return scores


def best_evaluation(records: list[dict[str, Any]], average: float | None = None) -> dict[str, Any]:
    """The evaluation with the highest score on the held-out validation images (never the test score): the epoch a
    run reports, chosen without looking at the test set."""
    scores = [s for s in evaluations(records, average) if s["parzen_valid"] is not None]
    if not scores:
        raise ValueError("the log has no evaluation with a validation score (train with eval_every > 0)")
    return max(scores, key=lambda s: s["parzen_valid"])


#: The plateau rule of a long run: its best validation score must rise by more than PLATEAU_NATS in PLATEAU_EPOCHS.
PLATEAU_EPOCHS = 300
PLATEAU_NATS = 1.0


def plateau_bar(
    records: list[dict[str, Any]], patience: int = PLATEAU_EPOCHS, min_delta: float = PLATEAU_NATS
) -> float | None:
    """The validation score G must exceed to be off a plateau: the best one at least `patience` epochs before the last
    record, plus `min_delta`; None while no evaluation is that old."""
    epoch = records[-1]["epoch"] if records else 0
    earlier = [s for s in evaluations(records) if s["epoch"] <= epoch - patience and s["parzen_valid"] is not None]
    return max(s["parzen_valid"] for s in earlier) + min_delta if earlier else None


def stop_reason(
    records: list[dict[str, Any]],
    target: float = 225.0,
    min_epochs: int = 1500,
    patience: int = PLATEAU_EPOCHS,
    min_delta: float = PLATEAU_NATS,
    max_epochs: int = 3000,
) -> str | None:
    """Why a long run should end now, or None: the validation-chosen G scores >= `target` on the test set; or, after
    `min_epochs`, the best validation score has not risen by more than `min_delta` in the last `patience` epochs; or
    `max_epochs` are done."""
    epoch = records[-1]["epoch"] if records else 0
    scores = [s for s in evaluations(records) if s["parzen_valid"] is not None]
    if scores:
        best = max(scores, key=lambda s: s["parzen_valid"])
        if best["parzen_mean"] >= target:
            return f"the validation-chosen epoch {best['epoch']} scores {best['parzen_mean']:.1f} >= {target:g}"
        bar = plateau_bar(records, patience, min_delta)
        if epoch >= min_epochs and bar is not None and best["parzen_valid"] <= bar:
            return (
                f"plateau: the best validation score rose by {best['parzen_valid'] - bar + min_delta:.2f} <= "
                f"{min_delta:g} in the last {patience} epochs (epoch {epoch})"
            )
    if epoch >= max_epochs:
        return f"{max_epochs} epochs done"
    return None


def _append_line(path: Path, line: str) -> None:
    """Append one line to a text file; an OSError (a full disk) becomes a WriteError naming the file."""
    try:
        with open(path, "a") as f:
            f.write(line + "\n")
    except OSError as e:
        raise write_error(path, e) from e


def fit_discriminator(cfg: Config, p_data: Mixture, p_g: Mixture, steps: int) -> tuple[Discriminator, list[float]]:
    """Train D alone against two fixed 1-D distributions (fresh samples each step): the inner loop of Algorithm 1 run to
    convergence, whose limit Proposition 1 predicts. Returns D (eval mode) and its loss per step."""
    with seeded(cfg.seed):
        D = build_discriminator(cfg, 1)
    opt = make_optimizer(cfg, D.parameters())
    rng = torch.Generator().manual_seed(cfg.seed + 1)
    losses = []
    for step in range(steps):
        set_hyperparameters(opt, learning_rate(cfg, step))
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

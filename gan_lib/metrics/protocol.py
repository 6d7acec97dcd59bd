"""Scoring generators as training runs and ablations do: Table 1's Parzen protocol on MNIST's validation and test
images, with samples from a fixed seed, so that the scores of different epochs, averages and runs compare."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from gan_lib.config import Config
from gan_lib.data import load_mnist
from gan_lib.metrics.parzen import ParzenResult, parzen_evaluate
from gan_lib.models import Generator, generate

if TYPE_CHECKING:
    from gan_lib.train import EpochHook, Trainer

#: The seed of the samples scored during training, in ablations and by `evaluate` (unless given --seed).
EVAL_SEED = 1234


@dataclass(frozen=True, eq=False)
class ParzenProtocol:
    """What a Parzen score depends on besides G: the validation images (sigma is chosen on valid[:1000], and
    valid[1000:] gives the held-out score), the test images, the number of samples and their seed."""

    valid: Tensor
    test: Tensor
    n_samples: int
    seed: int = EVAL_SEED

    @classmethod
    def mnist(cls, data_dir: str | None, n_samples: int, seed: int = EVAL_SEED) -> ParzenProtocol:
        """The paper's protocol: MNIST's validation (training-file rows 50000:60000) and test images."""
        mnist = load_mnist(data_dir)
        return cls(torch.from_numpy(mnist.valid_x), torch.from_numpy(mnist.test_x), n_samples, seed)

    def samples(self, G: Generator, cfg: Config) -> Tensor:
        """The n_samples seeded samples of G that the protocol scores (on G's device)."""
        return generate(G, cfg, self.n_samples, self.seed)

    def evaluate(self, samples: Tensor) -> ParzenResult:
        """`parzen_evaluate` of these samples against the protocol's images, on the samples' device."""
        return parzen_evaluate(samples, self.valid.to(samples.device), self.test.to(samples.device))

    def score(self, G: Generator, cfg: Config) -> ParzenResult:
        """Table 1 for a generator."""
        return self.evaluate(self.samples(G, cfg))


def parzen_hook(protocol: ParzenProtocol, snapshots: str | Path | None = None) -> EpochHook:
    """An epoch hook for `Trainer.fit`: every cfg.eval_every epochs, the scores of G and of each average of G
    (under "ema", by decay) for the epoch's log line; each scored generator is kept in `snapshots` (fp16, see
    `Trainer.save_generators`)."""

    def hook(trainer: Trainer) -> dict[str, Any] | None:
        if trainer.epoch % trainer.cfg.eval_every:
            return None
        record: dict[str, Any] = protocol.score(trainer.G, trainer.cfg).to_dict()
        for decay, average in trainer.G_ema.items():
            record.setdefault("ema", {})[str(decay)] = protocol.score(average.module, trainer.cfg).to_dict()
        if snapshots is not None:
            trainer.save_generators(snapshots)
        return record

    return hook

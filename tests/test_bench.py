"""Tests for the benchmark's plain loop (benchmarks/reference_loop.py): it runs the recipe gan_lib runs, from the same
state, so that the benchmark compares speed and nothing else."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from gan_lib.config import Config
from gan_lib.optim import learning_rate, momentum
from gan_lib.train import Trainer

REFERENCE = Path(__file__).resolve().parents[1] / "benchmarks" / "reference_loop.py"
_spec = importlib.util.spec_from_file_location("reference_loop", REFERENCE)
reference_loop = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(reference_loop)


def plain_from(trainer: Trainer, path: Path) -> tuple:
    """The plain loop's G, D and optimisers, loaded from a checkpoint of `trainer` written to `path`."""
    trainer.save(path)
    G, D = reference_loop.build_models(trainer.data)
    opt_g = torch.optim.SGD(G.parameters(), lr=0.1, momentum=0.5)
    opt_d = torch.optim.SGD(D.parameters(), lr=0.1, momentum=0.5)
    epoch, step = reference_loop.load_gan_lib_state(path, G, D, opt_g, opt_d)
    assert (epoch, step) == (trainer.epoch, trainer.step)
    return G, D, opt_g, opt_d


def test_schedules_are_the_recipe() -> None:
    cfg = Config()
    for step in (0, 1, 499, 10**6, 10**7):
        assert reference_loop.learning_rate(step) == pytest.approx(learning_rate(cfg, step), rel=1e-12)
    for epoch in (0, 1, 2, 100, 250, 251, 3000):
        assert reference_loop.momentum(epoch) == pytest.approx(momentum(cfg, epoch), rel=1e-12)


def test_a_gan_lib_state_becomes_the_same_functions(mnist_subset: torch.Tensor, tmp_path: Path) -> None:
    trainer = Trainer(Config(epochs=1), mnist_subset)
    with torch.no_grad():  # no two rows of a maxout layer alike, so that a wrong order of rows shows
        for p in trainer.D.parameters():
            p.add_(torch.randn_like(p) * 0.01)
    for opt in (trainer.opt_g, trainer.opt_d):  # momentum buffers equal to the weights, to see where they go
        for p in opt.param_groups[0]["params"]:
            opt.state[p]["buf"] = p.detach().clone()
    G, D, opt_g, opt_d = plain_from(trainer, tmp_path / "state.pt")
    z, x = torch.rand(7, 100) * 2 - 1, mnist_subset[:7]
    torch.testing.assert_close(G(z), trainer.G(z), rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(D.eval()(x).squeeze(1), trainer.D(x), rtol=1e-5, atol=1e-6)
    for opt in (opt_g, opt_d):
        for p in opt.param_groups[0]["params"]:
            assert torch.equal(opt.state[p]["momentum_buffer"], p.detach())


def test_the_plain_loop_makes_the_same_updates(
    mnist_subset: torch.Tensor, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two updates of both loops from one state, on one minibatch, with the same noise and no dropout: the same
    changes of every weight, up to float rounding and torch.optim.SGD's momentum (mu / 1.000004 where Pylearn2 has
    mu)."""
    trainer = Trainer(Config(epochs=2, d_dropout=False), mnist_subset[:100])
    with torch.no_grad():  # an opinionated D, so that both players get sizeable gradients
        for p in trainer.D.parameters():
            p.mul_(20)
    G, D, opt_g, opt_d = plain_from(trainer, tmp_path / "state.pt")
    start = [{k: v.clone() for k, v in net.state_dict().items()} for net in (trainer.G, trainer.D, G, D)]
    u = torch.rand(100, 100, generator=torch.Generator().manual_seed(1))
    rand = torch.rand
    monkeypatch.setattr(torch, "rand", lambda *size, **kw: u.clone() if size == (100, 100) else rand(*size, **kw))
    trainer.train_epoch()
    trainer.train_epoch()
    reference_loop.train(trainer.data, G, D.eval(), opt_g, opt_d, steps=2)
    for ours, plain, ours_start, plain_start in (
        (trainer.G, G, start[0], start[2]),
        (trainer.D, D, start[1], start[3]),
    ):
        for (name, value), (key, expected) in zip(ours.state_dict().items(), plain.state_dict().items(), strict=True):
            change, expected_change = value - ours_start[name], expected - plain_start[key]
            if ours is trainer.D and value.shape[0] == 1200:  # maxout rows: gan_lib's piece-major order
                change = reference_loop._unit_major(change)
            scale = expected_change.abs().max()
            assert scale > 1e-6, f"{name} did not move"
            assert (change - expected_change).abs().max() < 1e-3 * scale, name


def test_the_benchmark_script_imports_and_shows_its_help() -> None:
    """bench.py is run by hand, never by the unit tests: at least its imports and arguments must stay in step."""
    script = Path(__file__).resolve().parents[1] / "benchmarks" / "bench.py"
    done = subprocess.run([sys.executable, str(script), "--help"], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert "--state" in done.stdout


def test_each_kind_of_machine_gets_its_own_result_file() -> None:
    spec = importlib.util.spec_from_file_location("bench", REFERENCE.with_name("bench.py"))
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    intel = {"device": "cpu", "cpu": "Intel(R) Xeon(R) Processor", "cpu_capability": "AVX512"}
    assert bench.machine_slug(intel) == "cpu-intel-xeon-processor-avx512"
    assert bench.machine_slug(intel | {"cpu_capability": "DEFAULT"}) == "cpu-intel-xeon-processor-default"
    assert bench.machine_slug(intel | {"device": "NVIDIA H100 80GB HBM3"}) == "cuda-nvidia-h100-80gb-hbm3"
    committed = sorted(REFERENCE.parent.glob("results/*.json"))
    assert committed, "no committed benchmark result"
    for path in committed:  # each named after the machine it was measured on
        assert path.stem == bench.machine_slug(json.loads(path.read_text())), path.name

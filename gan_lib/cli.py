"""Command line: ``python -m gan_lib {train,sample,evaluate,export,classifier,ablate} ...``; each takes --help."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from gan_lib.ablation import load_plan, run_plan, summarise
from gan_lib.checkpoint import (
    CheckpointError,
    generator_export,
    load_checkpoint,
    load_generator,
    save_atomic,
    write_atomic,
)
from gan_lib.classifier import DEFAULT_WEIGHTS, MnistNet, accuracy, save_classifier, train_classifier
from gan_lib.config import ConfigError, load_config
from gan_lib.data import MNISTError, load_mnist
from gan_lib.metrics import parzen_score
from gan_lib.models import generate
from gan_lib.train import Trainer, training_data


def parzen_hook(cfg_data_dir: str | None, n_samples: int, snapshots: Path | None = None, seed: int = 1234):
    """An epoch hook that scores G and each average of G with the Parzen protocol (sigma on valid[:1000], then the
    test set, and valid[1000:] for choosing a checkpoint), and keeps each scored generator in `snapshots` (fp16)."""
    mnist = load_mnist(cfg_data_dir)
    valid, test = torch.from_numpy(mnist.valid_x), torch.from_numpy(mnist.test_x)

    def hook(trainer: Trainer) -> dict[str, Any] | None:
        if trainer.epoch % trainer.cfg.eval_every:
            return None
        record = parzen_score(trainer.G, trainer.cfg, valid, test, n_samples, seed).to_dict()
        generators = {"G": (trainer.G, {})}
        for decay, average in trainer.G_ema.items():
            generators[f"ema{decay}"] = (average.module, {"ema_decay": decay})
            record.setdefault("ema", {})[str(decay)] = parzen_score(
                average.module, trainer.cfg, valid, test, n_samples, seed
            ).to_dict()
        if snapshots is not None:
            for name, (G, extra) in generators.items():
                state = generator_export(trainer.cfg.to_dict(), trainer.epoch, trainer.step, G.state_dict(), True, **extra)
                save_atomic(state, snapshots / f"epoch{trainer.epoch:04d}_{name}.pt")
        return record

    return hook


def cmd_train(args: argparse.Namespace) -> None:
    cfg = load_config(args.config, args.set)
    out = Path(args.out or Path("runs") / Path(args.config).stem)
    data = training_data(cfg)
    checkpoint = out / "checkpoint.pt"
    if args.resume and checkpoint.exists():
        trainer = Trainer.resume(checkpoint, data, args.device, cfg)
        print(f"resuming {checkpoint} at epoch {trainer.epoch}", file=sys.stderr)
    else:
        if checkpoint.exists():
            raise CheckpointError(f"{checkpoint} exists; pass --resume to continue it or --out to train elsewhere")
        trainer = Trainer(cfg, data, args.device)
        (out / "metrics.jsonl").unlink(missing_ok=True)
    evaluate = cfg.eval_every and cfg.dataset == "mnist"
    hook = parzen_hook(cfg.data_dir, cfg.eval_samples, out / "generators") if evaluate else None
    trainer.fit(out, hook=hook, progress=not args.quiet)
    print(json.dumps({"checkpoint": str(checkpoint), "epoch": trainer.epoch, "step": trainer.step}))


def cmd_sample(args: argparse.Namespace) -> None:
    G, cfg = load_generator(args.checkpoint, args.device)
    x = generate(G, cfg, args.n, args.seed).cpu().numpy().astype(np.float32)
    write_atomic(Path(args.out), lambda f: np.save(f, x))
    print(json.dumps({"out": args.out, "shape": list(x.shape)}))


def cmd_evaluate(args: argparse.Namespace) -> None:
    G, cfg = load_generator(args.checkpoint, args.device)
    mnist = load_mnist(args.data_dir or cfg.data_dir)
    valid, test = torch.from_numpy(mnist.valid_x), torch.from_numpy(mnist.test_x)
    result = parzen_score(G, cfg, valid, test, args.n, args.seed)
    print(json.dumps(result.to_dict() | {"samples": args.n, "seed": args.seed}))  # exact sigma: one of SIGMAS


def cmd_export(args: argparse.Namespace) -> None:
    state = load_checkpoint(args.checkpoint)
    export = generator_export(state["config"], state["epoch"], state["step"], state["G"], args.half)
    save_atomic(export, Path(args.out))
    print(json.dumps({"out": args.out, "dtype": str(export["G"]["out.weight"].dtype), "epoch": state["epoch"]}))


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, not {value}")
    return value


def cmd_classifier(args: argparse.Namespace) -> None:
    mnist = load_mnist(args.data_dir)
    out = Path(args.out) if args.out else DEFAULT_WEIGHTS
    valid_curve: list[float] = []

    def report(epoch: int, net: MnistNet) -> None:
        valid_curve.append(accuracy(net, mnist.valid_x, mnist.valid_y))
        tqdm.write(f"epoch {epoch}/{args.epochs}: validation accuracy {valid_curve[-1]:.4f}", file=sys.stderr)

    net = train_classifier(
        mnist.train_x, mnist.train_y, args.epochs, args.seed, progress=not args.quiet, on_epoch=report
    )
    scores = {
        "test_accuracy": accuracy(net, mnist.test_x, mnist.test_y),
        "valid_accuracy": valid_curve[-1],
        "epochs": args.epochs,
        "seed": args.seed,
    }
    command = f"python -m gan_lib classifier --epochs {args.epochs} --seed {args.seed}"
    meta = scores | {
        "valid_accuracy_per_epoch": valid_curve,
        "torch": str(torch.__version__),  # a plain str: weights_only loading refuses TorchVersion
        "command": command + (f" --out {args.out}" if args.out else ""),
    }
    save_classifier(net, out, meta)
    print(json.dumps({"out": str(out)} | scores))


def cmd_ablate(args: argparse.Namespace) -> None:
    plan = load_plan(args.plan, args.epochs, args.seeds)
    out = Path(args.out or Path("runs") / Path(args.plan).stem)
    run_plan(plan, out, args.device, args.jobs, progress=not args.quiet)
    command = " ".join(["python -m gan_lib", *(sys.argv[1:] if args.argv is None else args.argv)])
    summary = summarise(plan, out, command)
    for name, v in summary["variants"].items():
        parzen, frechet = v["parzen"], v["frechet"]
        print(
            f"{name:36s} Parzen {parzen['mean']:7.1f} ± {parzen['std']:5.1f}   "
            f"Fréchet {frechet['mean']:7.2f} ± {frechet['std']:5.2f}",
            file=sys.stderr,
        )
    print(json.dumps({"summary": str(out / "summary.json"), "runs": len(plan.configs())}))


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m gan_lib", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    t = sub.add_parser(
        "train",
        help="train a GAN from a YAML config",
        description="Train a GAN; writes checkpoint.pt and metrics.jsonl to --out after every epoch.",
    )
    t.add_argument("config", help="YAML config, e.g. configs/mnist_paper.yaml")
    t.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config key (repeatable), e.g. --set epochs=1",
    )
    t.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    t.add_argument("--out", help="output folder (default runs/<config name>)")
    t.add_argument("--resume", action="store_true", help="continue the checkpoint in --out up to the config's epochs")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    t.set_defaults(func=cmd_train)

    s = sub.add_parser(
        "sample",
        help="draw samples from a checkpoint's generator",
        description="Write N generated images as a float32 N x 784 .npy array, values in [0, 1].",
    )
    s.add_argument("checkpoint")
    s.add_argument("--n", type=int, required=True, help="number of samples")
    s.add_argument("--out", required=True, help="output .npy file")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    s.set_defaults(func=cmd_sample)

    e = sub.add_parser(
        "evaluate",
        help="Parzen-window log-likelihood of a checkpoint (Table 1 protocol)",
        description="Print one JSON object: the Parzen mean log-likelihood on the MNIST test set, its standard "
        "error and the sigma chosen on the validation set.",
    )
    e.add_argument("checkpoint")
    e.add_argument("--n", type=int, default=10000, help="generated samples used as kernel centres (paper: 10000)")
    e.add_argument("--seed", type=int, default=0)
    e.add_argument(
        "--data-dir", help="MNIST folder (default: the checkpoint's config, then $GAN_LIB_MNIST_DIR, then the cache)"
    )
    e.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    e.set_defaults(func=cmd_evaluate)

    x = sub.add_parser(
        "export",
        help="keep only the generator (optionally fp16) for a small file",
        description="Write a generator-only checkpoint that sample and evaluate accept.",
    )
    x.add_argument("checkpoint")
    x.add_argument("--out", required=True)
    x.add_argument("--half", action="store_true", help="store weights as float16")
    x.set_defaults(func=cmd_export)

    c = sub.add_parser(
        "classifier",
        help="train the reference MNIST classifier whose features the sample-quality metrics use",
        description="Train gan_lib.classifier.MnistNet on the 50,000 MNIST training images, report validation "
        "accuracy after each epoch and test accuracy at the end, write the weights to --out and print one JSON "
        "object.",
    )
    c.add_argument("--epochs", type=positive_int, default=10, help="passes over the training set (default 10)")
    c.add_argument("--seed", type=int, default=0)
    c.add_argument("--out", help="weights file (default: the committed gan_lib/assets/mnist_classifier.pt)")
    c.add_argument("--data-dir", help="MNIST folder (default: $GAN_LIB_MNIST_DIR, then the cache)")
    c.add_argument("--quiet", action="store_true", help="no progress bar")
    c.set_defaults(func=cmd_classifier)

    a = sub.add_parser(
        "ablate",
        help="train and score every (variant, seed) run of an ablation plan",
        description="Run an ablation plan (e.g. configs/ablations.yaml): one JSON file per run in --out (runs that "
        "already have one are skipped, so an interrupted plan resumes), then summary.json with each variant's mean "
        "and standard deviation over the seeds of the Parzen score and the Fréchet distance.",
    )
    a.add_argument("plan", help="plan YAML, e.g. configs/ablations.yaml")
    a.add_argument("--epochs", type=positive_int, help="training budget per run (default: the plan's)")
    a.add_argument("--seeds", type=int, nargs="+", help="seeds (default: the plan's)")
    a.add_argument("--jobs", type=positive_int, default=1, help="runs trained at once, in separate processes")
    a.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    a.add_argument("--out", help="output folder (default runs/<plan name>)")
    a.add_argument("--quiet", action="store_true", help="no progress bar")
    a.set_defaults(func=cmd_ablate)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    args.argv = argv
    if getattr(args, "n", 1) is not None and getattr(args, "n", 1) <= 0:
        print("error: --n must be a positive number of samples", file=sys.stderr)
        return 2
    try:
        args.func(args)
    except (ConfigError, CheckpointError, MNISTError) as e:
        print("error: " + " ".join(str(e).split()), file=sys.stderr)  # one line, even for multi-line causes
        return 2
    return 0

"""Command line: ``python -m gan_lib {train,sample,evaluate,export,classifier,ablate} ...``; each takes --help.

A problem with what the command was given (a config, a checkpoint, a data or output folder, an option) ends it with
one line on stderr, ``error: ...``, saying what is wrong and what to do, and exit code 2."""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import warnings
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from gan_lib import PROG, __version__
from gan_lib.ablation import ClusterError, load_plan, run_plan, summarise
from gan_lib.checkpoint import checkpoint_config, generator_export, load_checkpoint, load_generator, read_generator
from gan_lib.classifier import DEFAULT_WEIGHTS, MnistNet, accuracy, save_classifier, train_classifier
from gan_lib.config import ConfigError, load_config, resume_config
from gan_lib.data import MNISTError, load_mnist, training_data
from gan_lib.files import (
    CheckpointError,
    FolderInUseError,
    WriteError,
    check_writable,
    folder_lock,
    save_array_atomic,
    save_atomic,
)
from gan_lib.metrics import EVAL_SEED, ParzenProtocol, parzen_hook
from gan_lib.models import generate
from gan_lib.train import CHECKPOINT_NAME, GENERATORS_NAME, LOG_NAME, DivergenceError, ResumeWarning, Trainer


class UsageError(Exception):
    """An option that cannot work as given (no GPU for --device cuda, too many samples for the memory)."""


#: The errors that mean bad input or a failed write, not a bug: each becomes one line and exit code 2.
USER_ERRORS = (
    ConfigError,
    CheckpointError,
    MNISTError,
    WriteError,
    FolderInUseError,
    DivergenceError,
    UsageError,
    ClusterError,
)


def cmd_train(args: argparse.Namespace, argv: list[str]) -> None:
    requested = load_config(args.config, args.set)
    check_device(args.device)
    out = Path(args.out or Path("runs") / Path(args.config).stem)
    checkpoint = out / CHECKPOINT_NAME
    nothing_to_resume = CheckpointError(
        f"nothing to resume: {checkpoint} does not exist; check --out, or drop --resume to start a new run"
    )
    if args.resume and not out.is_dir():
        raise nothing_to_resume  # before folder_lock creates the folder
    with folder_lock(out):  # held until training ends; checks first that the folder is writable
        if args.resume:
            if not checkpoint.exists():
                raise nothing_to_resume
            state = load_checkpoint(checkpoint, args.device, training=True)
            cfg = resume_config(checkpoint_config(state, checkpoint), requested, str(checkpoint))
            print(f"resuming {checkpoint} at epoch {state['epoch']}", file=sys.stderr)
            trainer = Trainer.from_state(state, training_data(cfg), args.device, cfg, source=str(checkpoint))
        else:
            if checkpoint.exists():
                raise CheckpointError(f"{checkpoint} exists; pass --resume to continue it or --out to train elsewhere")
            trainer = Trainer(requested, training_data(requested), args.device)
            (out / LOG_NAME).unlink(missing_ok=True)
        cfg, hook = trainer.cfg, None
        if cfg.eval_every and cfg.dataset == "mnist":
            hook = parzen_hook(ParzenProtocol.mnist(cfg.data_dir, cfg.eval_samples), out / GENERATORS_NAME)
        trainer.fit(out, hook=hook, progress=not args.quiet)
    print(json.dumps({"checkpoint": str(checkpoint), "epoch": trainer.epoch, "step": trainer.step}))


def cmd_sample(args: argparse.Namespace, argv: list[str]) -> None:
    check_device(args.device)
    G, cfg, _, _ = load_generator(args.checkpoint, args.device)
    check_memory(args.n, 4 * (cfg.noise_dim + 2 * G.out.out_features), args.device)
    x = generate(G, cfg, args.n, args.seed).cpu().numpy().astype(np.float32)
    save_array_atomic(x, Path(args.out))
    print(json.dumps({"out": args.out, "shape": list(x.shape)}))


def cmd_evaluate(args: argparse.Namespace, argv: list[str]) -> None:
    check_device(args.device)
    G, cfg, _, _ = load_generator(args.checkpoint, args.device)
    if cfg.dataset != "mnist":
        raise UsageError(
            f"checkpoint {args.checkpoint} holds a generator of the {cfg.dataset!r} dataset; evaluate scores MNIST "
            "generators (Table 1's protocol) only"
        )
    check_memory(args.n, 4 * (cfg.noise_dim + 2 * G.out.out_features + 3 * 500), args.device)  # 500: Parzen's block
    result = ParzenProtocol.mnist(args.data_dir or cfg.data_dir, args.n, args.seed).score(G, cfg)
    print(json.dumps(result.to_dict() | {"samples": args.n, "seed": args.seed}))  # exact sigma: one of SIGMAS


def cmd_export(args: argparse.Namespace, argv: list[str]) -> None:
    if Path(args.out).resolve() == Path(args.checkpoint).resolve():
        raise UsageError(
            f"--out {args.out} is the checkpoint being exported: the export would replace it (and a training "
            "checkpoint's discriminator and optimiser state, which --resume needs); choose another --out"
        )
    state = load_checkpoint(args.checkpoint)
    read_generator(state, args.checkpoint)  # refuses weights that are not finite or do not fit the config
    export = generator_export(state, args.half)
    save_atomic(export, Path(args.out))
    print(json.dumps({"out": args.out, "dtype": str(export["G"]["out.weight"].dtype), "epoch": state["epoch"]}))


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1, also in the form 1e4."""
    try:
        value = int(text)
    except ValueError:
        try:
            number = float(text)
        except ValueError:
            number = 0.0
        value = int(number) if number.is_integer() else 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer such as 100 or 1e4, got {text!r}")
    return value


def check_device(device: str) -> None:
    """A UsageError if torch cannot use `device` here."""
    if device == "cuda" and not torch.cuda.is_available():
        raise UsageError(f"--device cuda: torch {torch.__version__} sees no CUDA GPU on this machine; use --device cpu")


def check_memory(n: int, bytes_per_sample: int, device: str) -> None:
    """A UsageError if n samples of `bytes_per_sample` each cannot fit in the memory of the machine (or GPU)."""
    if device == "cuda":
        total = torch.cuda.get_device_properties(torch.cuda.current_device()).total_memory
    else:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    if n * bytes_per_sample > total:
        raise UsageError(
            f"--n {n}: the samples need about {n * bytes_per_sample / 1e9:,.0f} GB, more than the "
            f"{total / 1e9:,.0f} GB of memory here; ask for fewer"
        )


def command_line(argv: list[str]) -> str:
    """The command that ran, as recorded beside what it made: e.g. 'python -m gan_lib classifier --epochs 2'."""
    return f"{PROG} {shlex.join(argv)}"


def cmd_classifier(args: argparse.Namespace, argv: list[str]) -> None:
    out = Path(args.out) if args.out else DEFAULT_WEIGHTS
    check_writable(out.parent)  # before minutes of training
    mnist = load_mnist(args.data_dir)
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
    meta = scores | {
        "valid_accuracy_per_epoch": valid_curve,
        "torch": str(torch.__version__),  # a plain str: weights_only loading refuses TorchVersion
        "command": command_line(argv),
    }
    save_classifier(net, out, meta)
    print(json.dumps({"out": str(out)} | scores))


def cmd_ablate(args: argparse.Namespace, argv: list[str]) -> None:
    plan = load_plan(args.plan, args.epochs, args.seeds)
    check_device(args.device)
    out = Path(args.out or Path("runs") / Path(args.plan).stem)
    with folder_lock(out):  # one ablation per folder, as one training run
        run_plan(plan, out, args.device, args.jobs, progress=not args.quiet, cluster=args.cluster)
        summary = summarise(plan, out, command_line(argv))
    for name, v in summary["variants"].items():
        scores = "   ".join(f"{key} {s['mean']:8.3f} ± {s['std']:7.3f}" for key, s in v.items() if key != "seeds")
        print(f"{name:36s} {scores}", file=sys.stderr)
    print(json.dumps({"summary": str(out / "summary.json"), "runs": len(plan.configs())}))


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--version", action="version", version=f"gan_lib {__version__} (torch {torch.__version__})")
    sub = p.add_subparsers(dest="command", required=True)

    t = sub.add_parser(
        "train",
        help="train a GAN from a YAML config",
        description="Train a GAN; writes checkpoint.pt and metrics.jsonl to --out after every epoch. One run at a "
        "time holds the folder. An epoch whose losses or weights are not finite stops the run (the last checkpoint "
        "is kept). --resume continues with the stored config: only data_dir, epochs, eval_every, eval_samples and "
        "g_ema may differ from it.",
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
    t.add_argument(
        "--resume", action="store_true", help="continue the checkpoint in --out (which must exist) up to the epochs"
    )
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    t.set_defaults(func=cmd_train)

    s = sub.add_parser(
        "sample",
        help="draw samples from a checkpoint's generator",
        description="Write N generated images as a float32 N x 784 .npy array, values in [0, 1].",
    )
    s.add_argument("checkpoint")
    s.add_argument("--n", type=positive_int, required=True, help="number of samples")
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
    e.add_argument(
        "--n", type=positive_int, default=10000, help="generated samples used as kernel centres (paper: 10000)"
    )
    e.add_argument(
        "--seed", type=int, default=EVAL_SEED, help=f"seed of the samples (default {EVAL_SEED}, as during training)"
    )
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
        "already have one are skipped, so an interrupted plan resumes), then summary.json with each variant's mean, "
        "standard deviation and bootstrap 95%% interval over the seeds of each score (Parzen score and Fréchet "
        "distance on MNIST; modes covered, high-quality fraction and KL to uniform on the 2-D ring or grid).",
    )
    a.add_argument("plan", help="plan YAML, e.g. configs/ablations.yaml")
    a.add_argument("--epochs", type=positive_int, help="training budget per run (default: the plan's)")
    a.add_argument("--seeds", type=int, nargs="+", help="seeds (default: the plan's)")
    a.add_argument("--jobs", type=positive_int, default=1, help="runs trained at once, in separate processes")
    a.add_argument(
        "--cluster",
        metavar="ADDRESS",
        help="send the runs to the Dask cluster whose scheduler listens here, e.g. tcp://scheduler-host:8786 (needs "
        'pip install "gan_lib[dask]"; the records are written here, as with the local processes)',
    )
    a.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    a.add_argument("--out", help="output folder (default runs/<plan name>)")
    a.add_argument("--quiet", action="store_true", help="no progress bar")
    a.set_defaults(func=cmd_ablate)
    return p


def main(argv: list[str] | None = None) -> int:
    """Run one command (argv: the arguments after the program name; default sys.argv[1:]); returns the exit code."""
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser().parse_args(argv)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("always", ResumeWarning)  # each one, even if an earlier main() gave it
            warnings.showwarning = _warn  # on one line
            args.func(args, argv)
    except USER_ERRORS as e:
        return _error(str(e))
    except OSError as e:  # one that no step above expected: still the OS's words and the file, not a traceback
        return _error(f"{str(e.filename) + ': ' if e.filename else ''}{e.strerror or e}")
    except KeyboardInterrupt:
        _error("interrupted; a training run continues from its last checkpoint with --resume")
        return 130
    return 0


def _error(message: str) -> int:
    print("error: " + " ".join(message.split()), file=sys.stderr)  # one line, even for multi-line causes
    return 2


def _warn(message: Warning | str, category: type[Warning], *args: object, **kwargs: object) -> None:
    tqdm.write("warning: " + " ".join(str(message).split()), file=sys.stderr)

"""Publish a training run into the repository: its log, and for G and each average of G the generator of the epoch
with the best held-out validation score (chosen without the test set), copied from the run's kept fp16 generators;
then rewrite the status section of DEST/README.md from the log, so that it never goes stale.

    python scripts/publish_run.py RUN_DIR DEST_DIR [--full]

--full also copies the run's full, resumable checkpoint (G, D, optimiser state, RNG, averages; about 50 MB).
A run resumed from DEST's checkpoint lacks the kept generators of earlier epochs: where the chosen epoch is one of
those, DEST's generator file is kept if it is that epoch's, and anything else is an error.
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
from pathlib import Path
from typing import Any

from gan_lib.checkpoint import load_checkpoint, load_generator
from gan_lib.files import save_atomic, write_atomic
from gan_lib.published import averages, generator_file
from gan_lib.train import best_evaluation, evaluations, read_log, stop_reason

#: The README section this script owns: from this heading up to the next "## " heading.
STATUS_HEADING = "## Where the run stands"


def publish_generator(run: Path, dest: Path, records: list[dict[str, Any]], average: float | None) -> dict[str, Any]:
    """Copy the validation-chosen generator of G or of one average into `dest` (bytes as kept, so an unchanged
    choice leaves the file unchanged); return its evaluation."""
    best = best_evaluation(records, average)
    name = "G" if average is None else f"ema{average}"
    source = run / "generators" / f"epoch{best['epoch']:04d}_{name}.pt"
    target = dest / generator_file(average)
    if source.exists():
        load_checkpoint(source)  # a damaged kept file is an error naming it, before anything is replaced
        write_atomic(target, lambda f: f.write(source.read_bytes()))
    elif not (target.exists() and load_generator(target).epoch == best["epoch"]):
        raise SystemExit(
            f"error: the chosen {name} of epoch {best['epoch']} is neither in {source.parent} nor in {target}; "
            "publish from the run folder that kept that epoch's generators"
        )
    return best


def curve_epochs(evaluated: list[int]) -> list[int]:
    """The evaluated epochs a README curve shows: the first few, every hundredth, and the last."""
    keep = {e for e in evaluated if e in (10, 20, 50) or e % 100 == 0}
    return sorted(keep | {evaluated[-1]}) if evaluated else []


def status_section(records: list[dict[str, Any]], decays: list[float], checkpoint_epoch: int | None) -> str:
    """The README's status section: the chosen rows, the curve of validation / test scores, the stopping rule."""
    epoch, step = records[-1]["epoch"], records[-1]["step"]
    rows = []
    for average in [None, *decays]:
        best = best_evaluation(records, average)
        label = "G (faithful)" if average is None else f"average of G, decay {average}"
        rows.append(
            f"| {label} | {best['epoch']} | {best['parzen_valid']:.1f} | {best['parzen_mean']:.1f} +- "
            f"{best['parzen_se']:.1f} | {best['sigma']:.3f} |"
        )
    by_epoch = {a: {s["epoch"]: s for s in evaluations(records, a)} for a in [None, *decays]}
    curve = []
    for e in curve_epochs(sorted(by_epoch[None])):
        cells = [by_epoch[a].get(e) for a in [None, *decays]]
        curve.append(
            f"| {e} | "
            + " | ".join("-" if s is None else f"{s['parzen_valid']:.1f} / {s['parzen_mean']:.1f}" for s in cells)
            + " |"
        )
    reason = stop_reason(records)
    verdict = f"It has stopped. Reason: {reason}." if reason else "None of these holds yet."
    saved = (
        "" if checkpoint_epoch is None else f" The full resumable `checkpoint.pt` here is at epoch {checkpoint_epoch}."
    )

    return "\n".join(
        [
            f"{STATUS_HEADING}: {epoch} epochs ({step:,} updates)",
            "",
            "Chosen on validation (`gan_lib.train.best_evaluation`), test score read once; `python -m gan_lib evaluate "
            "FILE` reproduces each test score (seed 1234, as in the log):",
            "",
            "| generator | epoch | validation | test (Table 1 protocol) | sigma |",
            "| --- | --- | --- | --- | --- |",
            *rows,
            "",
            f"The paper reports 225 +- 2. The curve{'' if reason else ' so far'} (validation / test):",
            "",
            "| epoch | G | " + " | ".join(f"average {d}" for d in decays) + " |",
            "| --- | --- | " + " | ".join("---" for _ in decays) + " |",
            *curve,
            "",
            "The run stops when the validation-chosen G scores >= 225 on the test set, or when its best validation "
            "score has not risen by more than 1 nat over 300 epochs after at least 1,500 epochs, or at 3,000 epochs "
            f"(`gan_lib.train.stop_reason`). {verdict}"
            f"{saved}",
            "",
        ]
    )


def replace_status(readme: str, section: str) -> str:
    """`readme` with its status section (STATUS_HEADING up to the next '## ' heading) replaced by `section`."""
    pattern = re.compile(rf"^{re.escape(STATUS_HEADING)}.*?(?=^## )", re.S | re.M)
    if not pattern.search(readme):
        raise SystemExit(f"error: the README has no section starting with '{STATUS_HEADING}' followed by another '## '")
    return pattern.sub(lambda _: section + "\n", readme, count=1)


def publish(run: Path, dest: Path, full: bool) -> list[str]:
    """Copy the run's log and chosen generators (and the full checkpoint if `full`) and rewrite the README's status;
    one summary line per generator."""
    records = read_log(run / "metrics.jsonl")
    decays = averages(records)
    lines = []
    for average in [None, *decays]:
        best = publish_generator(run, dest, records, average)
        lines.append(
            f"{'G' if average is None else f'ema{average}'}: epoch {best['epoch']}, validation "
            f"{best['parzen_valid']:.1f}, test {best['parzen_mean']:.1f} +- {best['parzen_se']:.1f} "
            f"(sigma {best['sigma']:.3f}) -> {dest / generator_file(average)}"
        )
    lines.append(f"stop rule: {stop_reason(records) or 'not met, resume the run'} (log at epoch {records[-1]['epoch']})")
    shutil.copyfile(run / "metrics.jsonl", dest / "metrics.jsonl")
    if full:
        state = load_checkpoint(run / "checkpoint.pt")
        save_atomic(state, dest / "checkpoint.pt")
        lines.append(f"full checkpoint at epoch {state['epoch']} -> {dest / 'checkpoint.pt'}")
    saved = dest / "checkpoint.pt"
    checkpoint_epoch = int(load_checkpoint(saved)["epoch"]) if saved.exists() else None
    readme = dest / "README.md"
    text = replace_status(readme.read_text(), status_section(records, decays, checkpoint_epoch))
    write_atomic(readme, lambda f: f.write(text.encode()))
    lines.append(f"status section of {readme} rewritten")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", type=Path, help="run folder (metrics.jsonl, generators/, checkpoint.pt)")
    parser.add_argument("dest", type=Path, help="folder in the repository, e.g. checkpoints/mnist_paper")
    parser.add_argument("--full", action="store_true", help="also copy the full resumable checkpoint")
    args = parser.parse_args()
    for line in publish(args.run, args.dest, args.full):
        print(line)


if __name__ == "__main__":
    sys.exit(main())

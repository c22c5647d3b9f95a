"""GPU figures in one prepared run (issue 15): everything a lent GPU should measure, under 8 minutes on an H200.

Claims (each part writes its own section of the JSON; the markdown summary has a claims header with the GPU,
the versions and what ran):
1. ``cuda_tests``: the CUDA test cases (every op's GPU path against torchvision on the same device, within the
   documented tolerance; policies and ChildRun on CUDA): pytest counts of passed / failed / skipped.
2. ``ops``: images/s at batch 512 and 4096 on uint8 CIFAR-size images for TrivialAugment, RandAugment(2, 9 of 31)
   and AutoAugment-CIFAR10 (op part): ours (batched, per-sample randomness) against torchvision v2 on the GPU
   called per image (what a per-sample pipeline does; timed on at most 512 images) and on the whole batch (one
   draw for the batch: not per-sample augmentation, shown as the ceiling), and Kornia's batched ``auto``
   policies on the GPU when Kornia is installed; timed round-robin in one process, median of the repeats.
3. ``child``: ChildRun's training throughput for ``cifar10-resnet18`` (the seed-000 recipe) against the plainest
   PyTorch loop on the same batches (ratio, A/B pairs), and the share of step time spent augmenting with
   TrivialAugment (target <= 2%).
4. ``search``: one ``cifar10-small`` search with the default method (``python -m policy_search.train_agent``
   defaults: AugNet, end-of-run credit, compact actions on images, the leader raced against ``online-augnet``),
   timed end to end, and its child runs per minute (race runs included).
5. ``time94``: seconds for a full-CIFAR-10 child (ResNet-18, SGD-Nesterov, batch 512, label smoothing, cosine;
   the fastest recipe this library has, not airbench94's network) to reach 94% test accuracy, with flip + crop and
   with a searched policy, each under a wall-clock cap; the test split is only scored, never used for choices.
   The anchor: airbench94 reaches 94% in 3.3 s on an A100 with flip + 2-pixel translate.

Run: ``python benchmarks/gpu.py`` on a GPU (writes benchmarks/results/gpu.json and gpu.md);
``python benchmarks/gpu.py --smoke`` runs every part on CPU at tiny sizes (tests/test_gpu_script.py calls it, so the
script cannot rot). Every part is timed and guarded: one that fails records its error and the others still run;
the JSON is rewritten after each part, so an interrupted run keeps what finished.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from child_overhead import child_loop, plain_loop  # noqa: E402
from ops_throughput import kornia_policies, load_images, time_interleaved  # noqa: E402
from policy_search.child.run import ChildRun  # noqa: E402
from policy_search.policy import RandAugment, TrivialAugmentWide, load_policy  # noqa: E402
from policy_search.policy.presets import policy_preset  # noqa: E402

PARTS = ("cuda_tests", "ops", "child", "search", "time94")
DEFAULT_POLICY = REPO / "experiments/search-cifar10-small/runs/tpe/seed0/best_policy.json"


def sizes(smoke: bool) -> dict:
    """Every size the parts use: full on a GPU, tiny for --smoke on CPU."""
    if smoke:
        return {
            "batches": [16],
            "per_image_max": 8,
            "repeats": 2,
            "child_preset": "cifar10-proxy",
            "child_batches": 3,
            "child_pairs": 1,
            "search_task": "mnist-episode",
            "search_episodes": 2,
            "search_epochs": 0.05,
            "time94_epochs": 1,
            "time94_cap_s": 60,
            "time94_train_size": 256,
            "time94_eval": 256,
            "time94_model": "fastnet-s",
            "time94_batch": 64,
            "target": 0.94,
        }
    return {
        "batches": [512, 4096],
        "per_image_max": 512,
        "repeats": 7,
        "child_preset": "cifar10-resnet18",
        "child_batches": 40,
        "child_pairs": 3,
        "search_task": "cifar10-small",
        "search_episodes": 24,
        "search_epochs": None,
        "time94_epochs": 18,
        "time94_cap_s": 100,
        "time94_train_size": None,
        "time94_eval": None,
        "time94_model": "resnet18-cifar",
        "time94_batch": 512,
        "target": 0.94,
    }


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


# ------------------------------------------------------------------------------------------------------ parts
def part_cuda_tests(device: torch.device, size: dict, out: Path) -> dict:
    report = out / "gpu_cuda_tests.xml"
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        "-k",
        "cuda or gpu",
        "tests/test_ops.py",
        "tests/test_child.py",
        "tests/test_policy.py",
        f"--junitxml={report}",
    ]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=600)
    text = report.read_text() if report.is_file() else ""
    counts = {k: int(v) for k, v in re.findall(r'(tests|failures|errors|skipped)="(\d+)"', text)[:4]}
    report.unlink(missing_ok=True)
    passed = counts.get("tests", 0) - counts.get("failures", 0) - counts.get("errors", 0) - counts.get("skipped", 0)
    return {
        "command": " ".join(cmd[1:-1]),
        "returncode": proc.returncode,
        "passed": passed,
        "failed": counts.get("failures", 0) + counts.get("errors", 0),
        "skipped": counts.get("skipped", 0),
        "tail": proc.stdout[-1500:],
    }


def part_ops(device: torch.device, size: dict, out: Path) -> dict:
    from torchvision.transforms import v2

    cpu_images, source = load_images(max(size["batches"]))
    ours = {
        "trivialaugment": TrivialAugmentWide(31),
        "randaugment": RandAugment(2, 9, 31),
        "autoaugment-cifar10": policy_preset("autoaugment-cifar10-only"),
    }
    theirs = {
        "trivialaugment": v2.TrivialAugmentWide(),
        "randaugment": v2.RandAugment(num_ops=2, magnitude=9),
        "autoaugment-cifar10": v2.AutoAugment(v2.AutoAugmentPolicy.CIFAR10),
    }
    kornia = kornia_policies()
    rows = []
    for batch in size["batches"]:
        images = cpu_images[:batch].to(device)
        floats = images.float().div(255)  # Kornia takes float images in [0, 1]; converted outside the timing
        per_image = images[: size["per_image_max"]]
        for name, policy in ours.items():
            g = torch.Generator().manual_seed(0)
            torch.manual_seed(0)
            calls: dict[str, Callable[[], object]] = {
                "ours": lambda p=policy: p(images, generator=g),
                "torchvision_per_image": lambda t=theirs[name]: [t(img) for img in per_image],
                "torchvision_whole_batch": lambda t=theirs[name]: t(images),
            }
            if kornia is not None:
                module = kornia[name]().to(device)
                calls["kornia"] = lambda m=module: m(floats)
            seconds = time_interleaved(calls, size["repeats"], lambda: sync(device))
            counts = {k: (len(per_image) if k == "torchvision_per_image" else batch) for k in calls}
            ips = {k: counts[k] / s for k, s in seconds.items()}
            rows.append(
                {
                    "policy": name,
                    "batch": batch,
                    "images_per_s": ips,
                    "speedup_vs_torchvision_per_image": ips["ours"] / ips["torchvision_per_image"],
                    "speedup_vs_kornia": ips["ours"] / ips["kornia"] if "kornia" in ips else None,
                }
            )
            print(f"  ops {name:20s} batch {batch:5d}: " + "  ".join(f"{k} {v:,.0f}/s" for k, v in ips.items()))
    return {"images": source, "kornia": kornia is not None, "rows": rows}


def part_child(device: torch.device, size: dict, out: Path) -> dict:
    preset, n = size["child_preset"], size["child_batches"]
    child_loop(preset, 2, 0, device)  # warm-up: data cache, allocator, kernels
    pairs = []
    for k in range(size["child_pairs"]):
        child_ips, run = child_loop(preset, n, k, device)  # ends in a host read of the loss: synced
        plain_ips = plain_loop(run, n, k)
        pairs.append(
            {"childrun_images_per_s": child_ips, "plain_images_per_s": plain_ips, "ratio": child_ips / plain_ips}
        )
    augmented = ChildRun(preset, seed=0, device=device, allow_test=False)
    policy = TrivialAugmentWide(31)
    g = torch.Generator().manual_seed(0)
    augmented.train(n, augment=lambda x: policy(x, generator=g))
    share = augmented.aug_time_s / (augmented.aug_time_s + augmented.train_time_s)
    return {
        "preset": preset,
        "batches": n,
        "pairs": pairs,
        "ratio": statistics.median(p["ratio"] for p in pairs),
        "augment_share_trivialaugment": share,
        "augment_share_target": 0.02,
    }


def part_search(device: torch.device, size: dict, out: Path) -> dict:
    folder = out / "gpu_search"
    cmd = [
        sys.executable,
        "-m",
        "policy_search.train_agent",
        "--task",
        size["search_task"],
        "--episodes",
        str(size["search_episodes"]),
        "--device",
        device.type,
        "--out",
        str(folder),
        "--no-progress-bar",
    ]
    if size["search_epochs"] is not None:
        cmd += ["--epochs", str(size["search_epochs"])]
    if folder.exists():
        import shutil

        shutil.rmtree(folder)
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=900)
    wall = time.perf_counter() - start
    summary = json.loads((folder / "summary.json").read_text()) if (folder / "summary.json").is_file() else {}
    race_runs = (summary.get("rescore") or {}).get("runs", 0)  # the default search's race runs are child runs too
    return {
        "command": "python " + " ".join(cmd[1:]),
        "returncode": proc.returncode,
        "wall_s": wall,
        "episodes": summary.get("episodes"),
        "race_runs": race_runs,
        "child_runs_per_minute": ((summary.get("episodes") or 0) + race_runs) / wall * 60,
        "child_seconds": summary.get("child_seconds"),
        "final_val_acc_last": summary.get("final_val_acc_last"),
        "tail": (proc.stdout + proc.stderr)[-1500:],
    }


def part_time94(device: torch.device, size: dict, out: Path, policy_path: Path) -> dict:
    recipe = {
        "optimizer": "sgd",
        "lr": 0.2,
        "momentum": 0.9,
        "nesterov": True,
        "weight_decay": 5e-4,
        "batch_size": size["time94_batch"],
        "epochs": size["time94_epochs"],
        "lr_schedule": "cosine",
        "label_smoothing": 0.1,
        "val_size": 1000,
        "train_size": size["time94_train_size"],
        "model": size["time94_model"],
    }
    arms = {"flip-crop": policy_preset("flip-crop")}
    if policy_path.is_file():
        arms[str(policy_path.relative_to(REPO) if policy_path.is_relative_to(REPO) else policy_path)] = load_policy(
            policy_path
        )
    results = []
    for name, policy in arms.items():
        run = ChildRun("cifar10-resnet18", seed=0, device=device, **recipe)
        g = torch.Generator().manual_seed(0)
        per_epoch = max(1, run.total_batches // max(1, round(run.preset.epochs)))
        curve, reached, start = [], None, time.perf_counter()
        while run.batches_done < run.total_batches:
            run.train(
                min(per_epoch, run.total_batches - run.batches_done),
                augment=lambda x, p=policy: p(x, generator=g, progress=run.progress),
            )
            sync(device)
            elapsed = run.train_time_s + run.aug_time_s
            acc = run.evaluate("test", max_samples=size["time94_eval"])["accuracy"]
            curve.append({"train_s": elapsed, "test_accuracy": acc})
            if reached is None and acc >= size["target"]:
                reached = elapsed
            if time.perf_counter() - start > size["time94_cap_s"]:
                break
        results.append(
            {
                "policy": name,
                "seconds_to_target": reached,
                "best_test_accuracy": max(c["test_accuracy"] for c in curve),
                "curve": curve,
            }
        )
        print(f"  time94 {name}: best {results[-1]['best_test_accuracy']:.4f}, to target: {reached}")
    return {
        "recipe": recipe,
        "target": size["target"],
        "cap_s": size["time94_cap_s"],
        "arms": results,
        "anchor": "airbench94: 94% in 3.3 s on an A100 (flip + 2-pixel translate)",
    }


# ------------------------------------------------------------------------------------------------------ report
def environment(device: torch.device) -> dict:
    import torchvision

    info = {
        "device": str(device),
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_threads": torch.get_num_threads(),
    }
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
        info["cuda"] = torch.version.cuda
    try:
        import kornia

        info["kornia"] = kornia.__version__
    except ImportError:
        info["kornia"] = None
    return info


def markdown(report: dict) -> str:
    env = report["environment"]
    lines = [
        "# GPU figures (benchmarks/gpu.py)",
        "",
        f"Claims measured on **{env.get('gpu', env['device'])}** (torch {env['torch']}, torchvision "
        f"{env['torchvision']}, Kornia {env['kornia'] or 'not installed'}, CUDA {env.get('cuda')}); "
        f"mode: {'smoke (CPU, tiny sizes: not figures)' if report['smoke'] else 'full'}; "
        f"command: `{report['command']}`; parts run: {', '.join(report['parts'])}.",
        "",
    ]
    for part in [p for p in report["parts"] if p in report]:
        body = report[part]
        lines.append(f"## {part} ({body.get('seconds', 0):.0f} s)")
        if "error" in body:
            lines += ["", f"Failed: `{body['error']}`", ""]
            continue
        if part == "cuda_tests":
            lines.append(f"\npassed {body['passed']}, failed {body['failed']}, skipped {body['skipped']}\n")
        elif part == "ops":
            lines += [
                "",
                "| policy | batch | ours img/s | tv per image | tv whole batch | Kornia | ours / tv per image |",
                "|---|---:|---:|---:|---:|---:|---:|",
            ]
            for r in body["rows"]:
                ips = r["images_per_s"]
                kornia = f"{ips['kornia']:,.0f}" if "kornia" in ips else "—"
                lines.append(
                    f"| {r['policy']} | {r['batch']} | {ips['ours']:,.0f} | {ips['torchvision_per_image']:,.0f}"
                    f" | {ips['torchvision_whole_batch']:,.0f} | {kornia} |"
                    f" {r['speedup_vs_torchvision_per_image']:.1f}x |"
                )
            lines.append("")
        elif part == "child":
            lines.append(
                f"\nChildRun / plain loop: {body['ratio']:.3f} on `{body['preset']}`; share of step time "
                f"augmenting (TrivialAugment): {100 * body['augment_share_trivialaugment']:.2f}% "
                f"(target <= 2%)\n"
            )
        elif part == "search":
            lines.append(
                f"\n`{body['command']}`: {body['wall_s']:.0f} s end to end, {body['episodes']} child runs, "
                f"{body['child_runs_per_minute']:.1f} child runs per minute\n"
            )
        elif part == "time94":
            lines += ["", "| policy | seconds to 94% | best test acc |", "|---|---:|---:|"]
            for arm in body["arms"]:
                reached = f"{arm['seconds_to_target']:.1f}" if arm["seconds_to_target"] is not None else "not reached"
                lines.append(f"| {arm['policy']} | {reached} | {100 * arm['best_test_accuracy']:.2f}% |")
            lines.append(f"\nAnchor: {body['anchor']}.\n")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help="every part on CPU at tiny sizes (for the test)")
    parser.add_argument("--parts", nargs="+", default=list(PARTS), choices=PARTS, help="parts to run, in order")
    parser.add_argument("--policy", default=str(DEFAULT_POLICY), help="searched policy for the time-to-94%% part")
    parser.add_argument("--out", default=None, help="output folder (default benchmarks/results)")
    args = parser.parse_args(argv)
    device = torch.device("cpu" if args.smoke or not torch.cuda.is_available() else "cuda")
    if not args.smoke and device.type != "cuda":
        parser.error("no CUDA device: run on a GPU, or pass --smoke for the CPU rehearsal")
    size = sizes(args.smoke)
    out = Path(args.out) if args.out else REPO / "benchmarks" / "results"
    out.mkdir(parents=True, exist_ok=True)
    stem = "gpu-smoke" if args.smoke else "gpu"
    report: dict = {
        "smoke": args.smoke,
        "parts": args.parts,
        "environment": environment(device),
        "command": "python benchmarks/gpu.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "sizes": size,
    }
    for part in args.parts:
        print(f"[gpu] {part} ...", flush=True)
        start = time.perf_counter()
        try:
            if part == "time94":
                body = part_time94(device, size, out, Path(args.policy))
            else:
                body = globals()[f"part_{part}"](device, size, out)
        except Exception as exc:  # noqa: BLE001 - one failing part must not lose the others' figures
            body = {"error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()[-3000:]}
        body["seconds"] = time.perf_counter() - start
        report[part] = body
        (out / f"{stem}.json").write_text(json.dumps(report, indent=1, default=str))
        (out / f"{stem}.md").write_text(markdown(report))
        print(
            f"[gpu] {part}: {body['seconds']:.0f} s{' FAILED ' + body['error'] if 'error' in body else ''}", flush=True
        )
    print(f"[gpu] wrote {out / f'{stem}.json'} and {out / f'{stem}.md'}")
    return report


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()

"""Does the agent learn? PPO and AugNet against random actions on the CPU proxies, over seeds.

Each (task, agent, seed) is one `train_agent` run, written to experiments/agents/runs/<task>-<agent>-seed<k>/
(resumable: finished runs are skipped, interrupted ones resume). The report compares the mean episode return
over the last `--last` episodes, with mean ± 95% CI over seeds, and plots learning curves.

    python experiments/agents/learning_evidence.py --task mnist-episode --episodes 40 --seeds 3
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import numpy as np

from policy_search.benchmark.stats import summarize
from policy_search.train_agent import TrainConfig, train

HERE = Path(__file__).resolve().parent


def ci95(values: list[float]) -> tuple[float, float]:
    """Mean and 95% Student-t half-width (policy_search.stats.summarize)."""
    s = summarize(values)
    return s["mean"], s["half_width"]


def read_returns(run: Path) -> list[float]:
    with (run / "episodes.csv").open() as f:
        return [float(r["return"]) for r in csv.DictReader(f)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", default="mnist-episode")
    parser.add_argument("--agents", nargs="+", default=["ppo", "augnet", "random"])
    parser.add_argument("--episodes", type=int, default=40)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--last", type=int, default=10, help="episodes averaged at the end")
    args = parser.parse_args()
    runs_root = HERE / "runs"
    curves: dict[str, list[list[float]]] = {}
    for agent in args.agents:
        for seed in range(args.seeds):
            out = runs_root / f"{args.task}-{agent}-seed{seed}"
            done = (out / "summary.json").exists() and len(read_returns(out)) >= args.episodes
            if not done:
                resume = (out / "checkpoint.pt").exists()
                train(
                    TrainConfig(
                        task=args.task,
                        agent=agent,
                        action_kind="compact",  # as it ran (train_agent's default became auto: families on text)
                        episodes=args.episodes,
                        seed=seed,
                        out=str(out),
                        resume=resume,
                        progress_bar=True,
                        rescore=0,  # the learning curves of the search itself, as recorded (no race)
                    ),
                    [
                        "--task",
                        args.task,
                        "--agent",
                        agent,
                        "--episodes",
                        str(args.episodes),
                        "--seed",
                        str(seed),
                        "--out",
                        str(out.relative_to(HERE.parent.parent)),
                    ],
                )
            curves.setdefault(agent, []).append(read_returns(out)[: args.episodes])
    write_report(args, curves)


def write_report(args, curves: dict[str, list[list[float]]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows, summary = [], {}
    for agent, runs in curves.items():
        finals = [float(np.mean(r[-args.last :])) for r in runs]
        firsts = [float(np.mean(r[: args.last])) for r in runs]
        mean, half = ci95(finals)
        summary[agent] = {
            "last_mean_per_seed": finals,
            "first_mean_per_seed": firsts,
            "mean": mean,
            "ci95": half,
            "std": float(np.std(finals, ddof=1)) if len(finals) > 1 else float("nan"),
        }
        rows.append(
            f"| {agent} | {mean:.2f} ± {half:.2f} | {summary[agent]['std']:.2f} | "
            f"{np.mean(firsts):.2f} | {', '.join(f'{v:.2f}' for v in finals)} |"
        )
    lines = [
        f"# Learning evidence on `{args.task}`",
        "",
        f"Command: `python experiments/agents/learning_evidence.py --task {args.task} --episodes {args.episodes} "
        f"--seeds {args.seeds} --last {args.last}`",
        "",
        f"Mean episode return over the last {args.last} of {args.episodes} episodes; mean ± 95% CI (Student t) "
        f"over seeds 0..{args.seeds - 1}. Return = 100 x (final - initial validation accuracy) - cost penalty.",
        "",
        "| agent | last-episodes return | std over seeds | first-episodes return | per seed |",
        "|---|---:|---:|---:|---|",
        *rows,
        "",
    ]
    if "random" in summary:
        for agent in summary:
            if agent == "random":
                continue
            diff = np.asarray(summary[agent]["last_mean_per_seed"]) - np.asarray(
                summary["random"]["last_mean_per_seed"]
            )
            mean, half = ci95(list(diff))
            wins = int((diff > 0).sum())
            excludes = "excludes 0" if abs(mean) > half else "includes 0"
            lines.append(
                f"- {agent} vs random (paired by seed): {mean:+.2f} ± {half:.2f} (95% CI {excludes}); "
                f"higher on {wins} of {len(diff)} seeds"
            )
    fig, ax = plt.subplots(figsize=(6.5, 3.8))
    for agent, runs in curves.items():
        arr = np.asarray(runs)
        k = 5
        smooth = np.stack([np.convolve(r, np.ones(k) / k, mode="valid") for r in arr])
        x = np.arange(k - 1, arr.shape[1])
        ax.plot(x, smooth.mean(0), label=agent)
        ax.fill_between(x, smooth.min(0), smooth.max(0), alpha=0.2)
    ax.set_xlabel("episode")
    ax.set_ylabel(f"return (moving mean of {k}; band = seed range)")
    ax.set_title(f"{args.task}", fontsize=9)
    ax.legend()
    fig.tight_layout()
    fig.savefig(HERE / f"learning-{args.task}.png", dpi=110)
    lines += ["", f"![learning curves](learning-{args.task}.png)", ""]
    (HERE / f"learning-{args.task}.md").write_text("\n".join(lines))
    (HERE / f"learning-{args.task}.json").write_text(json.dumps(summary, indent=1))
    print("\n".join(lines))


if __name__ == "__main__":
    main()

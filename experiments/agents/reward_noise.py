"""How noisy is the reward? The same state and action, replayed with different seeds.

From snapshots of a child run (taken at a few points of an episode), each action is replayed with several seeds
(augmentation randomness and batch order both redrawn) and the step reward is computed four ways:
validation accuracy gain or validation loss decrease, on the env's fixed validation subset or on a fresh random
subset of the same size per replay (what evaluating "some validation batch" would give). Signal = spread of the
mean reward across actions; noise = pooled spread across seeds for one action; SNR = signal / noise.

    python experiments/agents/reward_noise.py --task mnist-episode --seeds 8
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from policy_search.envs.augment_env import AugmentEnv
from policy_search.policy.action_space import ActionSpec

HERE = Path(__file__).resolve().parent
ACTIONS = {  # (op, magnitude bin, probability level) x 2 slots
    "identity": [("Identity", 0, 0), ("Identity", 0, 0)],
    "mild": [("Rotate", 2, 1), ("Brightness", 2, 1)],
    "medium": [("ShearX", 5, 2), ("Contrast", 5, 2)],
    "heavy": [("Rotate", 9, 3), ("ShearX", 9, 3)],  # not Solarize(0)+Invert: that pair cancels out
}


def encode(spec: ActionSpec, slots) -> np.ndarray:
    return np.asarray([v for op, b, p in slots for v in (spec.ops.index(op), b, p)], dtype=np.int64)


def measure(env: AugmentEnv, n_eval: int, rng: np.random.Generator) -> dict:
    preds, labels, _ = env.run.predict("val")
    correct = (preds == labels).float().cpu().numpy()
    # per-sample loss for the loss-based rewards
    with torch.no_grad():
        data = env.run.splits["val"]
        env.run.model.eval()
        logits = torch.cat(
            [env.run.model(env.run.normalize(data.images[i : i + 1000])) for i in range(0, len(data), 1000)]
        )
        env.run.model.train()
        losses = torch.nn.functional.cross_entropy(logits, data.labels, reduction="none").cpu().numpy()
    random_idx = rng.choice(len(correct), n_eval, replace=False)
    return {
        "acc_fixed": correct[:n_eval].mean(),
        "loss_fixed": losses[:n_eval].mean(),
        "acc_random": correct[random_idx].mean(),
        "loss_random": losses[random_idx].mean(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", default="mnist-episode")
    parser.add_argument("--seeds", type=int, default=8)
    parser.add_argument("--states", type=float, nargs="+", default=[0.25, 0.5, 0.75])
    args = parser.parse_args()
    env = AugmentEnv(args.task)
    env.reset(seed=0)
    spec, n_eval = env.action_spec, env.run.preset.eval_samples
    identity = encode(spec, ACTIONS["identity"])
    results = {}
    for state_at in args.states:
        while env.run.progress < state_at - 1e-9:
            env.step(identity)
        snap = env.snapshot()
        table = {}
        for name, slots in ACTIONS.items():
            rewards: dict[str, list[float]] = {}
            for seed in range(args.seeds):
                env.restore(snap, seed=1000 + seed)
                # "before" on its own subset: for the random variants both ends of the reward are fresh draws
                before = measure(env, n_eval, np.random.default_rng(10_000 + seed))
                policy = spec.to_policy(encode(spec, slots))
                g = env._aug_generator
                env.run.train(env.batches_per_step, augment=lambda x: policy(x, generator=g))
                after = measure(env, n_eval, np.random.default_rng(seed + 1))
                for k in after:
                    delta = (after[k] - before[k]) if k.startswith("acc") else (before[k] - after[k])
                    rewards.setdefault(k, []).append(100 * float(delta))
            table[name] = rewards
        env.restore(snap)
        results[f"progress={state_at}"] = summarize(table)
    out = {
        "task": args.task,
        "seeds": args.seeds,
        "eval_samples": n_eval,
        "states": results,
        "command": f"python experiments/agents/reward_noise.py --task {args.task} --seeds {args.seeds}",
    }
    (HERE / f"reward-noise-{args.task}.json").write_text(json.dumps(out, indent=1))
    print(json.dumps({k: {m: round(v["snr"], 2) for m, v in s.items()} for k, s in results.items()}, indent=1))


def summarize(table: dict) -> dict:
    out = {}
    for metric in next(iter(table.values())):
        per_action = {a: np.asarray(r[metric]) for a, r in table.items()}
        means = np.asarray([v.mean() for v in per_action.values()])
        noise = float(np.sqrt(np.mean([v.var(ddof=1) for v in per_action.values()])))
        signal = float(means.std(ddof=1))
        out[metric] = {
            "signal_std_across_actions": signal,
            "noise_std_across_seeds": noise,
            "snr": signal / noise if noise > 0 else float("inf"),
            "mean_by_action": {a: float(v.mean()) for a, v in per_action.items()},
            "std_by_action": {a: float(v.std(ddof=1)) for a, v in per_action.items()},
        }
    return out


if __name__ == "__main__":
    main()

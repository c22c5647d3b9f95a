"""Design check before the attempt-4 search (not evidence for the goal): AugNet on a simulated cifar10-small.

The surrogate is a least-squares fit of validation accuracy on (flip, crop, N, M) to the 16 TPE trials of
experiments/search-cifar10-small (validation only), plus Gaussian noise of a child run's seed-to-seed spread.
Each simulated search runs the real AugNetAgent for 48 one-decision episodes (the train_agent defaults) and
scores, by the surrogate's noise-free value, the elite-distilled action (``--distill elite``), the critic's
action (``--distill critic``) and the final controller's expected accuracy; Optuna's TPE with 16 and 48 trials on
the same surrogate is the reference. Usage: python experiments/search4-cifar10-small/simulate.py [--sims 40]
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import numpy as np
import torch

from policy_search.agents.augnet import AugNetAgent, AugNetConfig
from policy_search.policy.action_space import ActionSpec
from policy_search.policy.export import critic_action

HERE = Path(__file__).parent
TRIALS = HERE.parent / "search-cifar10-small/runs/tpe/seed0/trials.csv"


def features(a: np.ndarray) -> np.ndarray:
    flip, crop, n, m = (a[:, i].astype(float) for i in range(4))
    mag = m / 9
    return np.stack([np.ones_like(n), flip, crop, n, n * mag, n * mag**2, (n > 0) * 1.0], 1)


def fit() -> np.ndarray:
    rows = list(csv.DictReader(TRIALS.open()))
    a = np.array([[int(r[f"param_{k}"]) for k in ("flip", "crop", "num_ops", "magnitude")] for r in rows])
    y = np.array([100 * float(r["value"]) for r in rows])
    coef, *_ = np.linalg.lstsq(features(a), y, rcond=None)
    return coef


def simulate(coef, heads: str, lr: float, seed: int, episodes: int = 48, noise: float = 0.8, elite: float = 0.3):
    spec = ActionSpec.compact()
    agent = AugNetAgent(8, spec.nvec, AugNetConfig(heads=heads, lr=lr, gamma=1.0), seed=seed, ordinal=spec.ordinal)
    rng = np.random.default_rng(seed)
    obs = np.zeros(8, dtype=np.float32)
    actions, returns = [], []
    for _ in range(episodes):
        a = agent.act(obs)
        r = float(features(a[None])[0] @ coef + rng.normal(0, noise))
        agent.learn([obs], [a], [r])
        actions.append(a)
        returns.append(r)
    top = np.argsort(returns)[::-1][: max(1, round(elite * episodes))]
    distilled = spec.modal_action([actions[i] for i in sorted(top)])
    critic = critic_action(actions, returns, spec)
    grid = np.array(np.meshgrid(*[np.arange(k) for k in spec.nvec], indexing="ij")).reshape(4, -1).T
    with torch.no_grad():
        dists = agent._dists(torch.as_tensor(obs))
    p = np.ones(len(grid))
    for i, d in enumerate(dists):
        p *= d.probs.numpy()[grid[:, i]]
    value = features(grid) @ coef
    return (
        float(features(distilled[None])[0] @ coef),
        float(p @ value),
        float(value.max()),
        float(features(critic[None])[0] @ coef),
    )


def tpe(coef, trials: int, seed: int, noise: float = 0.8) -> float:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    rng = np.random.default_rng(seed)
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed, n_startup_trials=6))

    def objective(trial) -> float:
        a = [trial.suggest_int(k, 0, n) for k, n in (("flip", 1), ("crop", 1), ("n", 3), ("m", 9))]
        return float(features(np.array([a]))[0] @ coef + rng.normal(0, noise))

    study.optimize(objective, n_trials=trials)
    b = study.best_params
    return float(features(np.array([[b["flip"], b["crop"], b["n"], b["m"]]]))[0] @ coef)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sims", type=int, default=40, help="simulated searches per design")
    args = ap.parse_args()
    coef = fit()
    out = {"coef": coef.tolist(), "designs": []}
    for heads in ("categorical", "ordinal"):
        for lr in (3e-3, 1e-2, 3e-2):
            res = np.array([simulate(coef, heads, lr, s) for s in range(args.sims)])
            row = {
                "heads": heads,
                "lr": lr,
                "surrogate_best": float(res[0, 2]),
                "elite_regret": float((res[:, 2] - res[:, 0]).mean()),
                "critic_regret": float((res[:, 2] - res[:, 3]).mean()),
                "controller_regret": float((res[:, 2] - res[:, 1]).mean()),
            }
            out["designs"].append(row)
            print(json.dumps(row))
    for trials in (16, 48):
        values = [tpe(coef, trials, s) for s in range(args.sims)]
        row = {"method": f"tpe-{trials}", "regret": float(res[0, 2] - np.mean(values))}
        out["designs"].append(row)
        print(json.dumps(row))
    (HERE / "simulate.json").write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()

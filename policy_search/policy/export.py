"""Frozen-policy export: the distilled schedule (op distribution per training phase) and its heatmap.

The schedule needs no training-state features: phase k covers the k-th step of an episode, and its policy is
the set of sub-policies the agent chose at that step over the recorded episodes (duplicates kept, so picking one
uniformly per sample reproduces the agent's empirical action distribution for that phase). For the compact action
kind (flip, crop, RandAugment N and M) a phase is the policy of the most frequent choice of each head at that step:
a RandAugment draw is not a sub-policy row, and the modal choice is what a converged controller's argmax picks.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np

from policy_search.policy.action_space import ActionSpec
from policy_search.policy.base import Policy
from policy_search.policy.kinds import Schedule, Sequence, SubPolicies


def select_episodes(episodes: list[dict], n: int, how: str = "last") -> list[dict]:
    """The ``n`` episodes a schedule is distilled from: the ``last`` n, or the ``elite`` n with the highest
    returns (diverged episodes never count as elite; ties keep the later episode)."""
    if how == "last":
        return episodes[-n:]
    if how != "elite":
        raise ValueError(f"unknown episode selection {how!r}; use last or elite")
    ranked = sorted(
        range(len(episodes)),
        key=lambda i: (not episodes[i].get("diverged"), float(episodes[i]["return"]), i),
        reverse=True,
    )
    return [episodes[i] for i in sorted(ranked[:n])]


def action_features(actions: np.ndarray, spec: ActionSpec) -> np.ndarray:
    """Features of MultiDiscrete actions ``[n, heads]`` for the critic: per unordered head its one-hot (first
    choice dropped), per ordered head its position z in [-1, 1] and z**2, and the products of the ordered heads'
    positions (N x magnitude), then a constant."""
    a = np.asarray(actions, dtype=np.int64)
    cols, positions = [], []
    for i, (n, ordered) in enumerate(zip(spec.nvec.tolist(), spec.ordinal.tolist(), strict=True)):
        if ordered and n > 2:
            z = 2.0 * a[:, i] / (n - 1) - 1.0
            cols += [z, z**2]
            positions.append(z)
        else:
            cols += [(a[:, i] == k).astype(np.float64) for k in range(1, n)]
    cols += [positions[i] * positions[j] for i in range(len(positions)) for j in range(i + 1, len(positions))]
    return np.stack([*cols, np.ones(len(a))], 1)


def critic_action(actions: list[np.ndarray], returns: list[float], spec: ActionSpec, ridge: float = 1.0) -> np.ndarray:
    """The action a fitted critic rates best: a ridge regression of the episodes' returns on ``action_features``
    (every episode counts, not only an elite), maximised over the whole action grid, or, where the grid is too
    large to list, by coordinate ascent from the modal action."""
    x = action_features(np.stack(actions), spec)
    y = np.asarray(returns, dtype=np.float64)
    penalty = ridge * np.eye(x.shape[1])
    penalty[-1, -1] = 0.0  # the constant is not shrunk
    coef = np.linalg.solve(x.T @ x + penalty, x.T @ y)
    if int(np.prod(spec.nvec.astype(np.float64))) <= 200_000:
        grid = np.stack(np.meshgrid(*[np.arange(n) for n in spec.nvec], indexing="ij"), -1).reshape(-1, len(spec.nvec))
        return grid[int(np.argmax(action_features(grid, spec) @ coef))]
    best = spec.modal_action(actions)
    for _ in range(10):
        before = best.copy()
        for i, n in enumerate(spec.nvec.tolist()):
            candidates = np.repeat(best[None], n, 0)
            candidates[:, i] = np.arange(n)
            best = candidates[int(np.argmax(action_features(candidates, spec) @ coef))]
        if np.array_equal(best, before):
            break
    return best


def _episodes_by_phase(episodes: list[dict]) -> list[list[dict]]:
    """For each step k (a schedule phase), the episodes that reached it; diverged ones only if all diverged."""
    usable = [e for e in episodes if not e.get("diverged")] or episodes
    if not usable:
        raise ValueError("no recorded episodes to distill a schedule from")
    n_phases = max(len(e["steps"]) for e in usable)
    return [[e for e in usable if len(e["steps"]) > k] for k in range(n_phases)]


def distill_schedule(episodes: list[dict], spec: ActionSpec, base: Policy | None = None) -> Schedule:
    """A ``Schedule`` from recorded episodes (``EpisodeRecorder.episodes``): one phase per environment step."""
    by_phase = _episodes_by_phase(episodes)
    n_phases = len(by_phase)
    phases = []
    for k, rows in enumerate(by_phase):
        if spec.kind != "slots":  # one decision per head: the modal action (compact, online)
            actions = [e["steps"][k]["action"] for e in rows]
            phases.append(((k + 1) / n_phases, spec.to_policy(spec.modal_action(actions), base)))
            continue
        subs = [[tuple(slot) for slot in e["steps"][k]["ops"]] for e in rows]
        policy: Policy = SubPolicies(subs, space=spec.space, num_bins=spec.num_bins)
        if base is not None:
            policy = Sequence([base, policy])
        phases.append(((k + 1) / n_phases, policy))
    return Schedule(phases)


def critic_schedule(episodes: list[dict], spec: ActionSpec, base: Policy | None = None) -> Schedule:
    """A ``Schedule`` whose phase k is the action a critic fitted on every episode rates best at step k
    (``critic_action`` on the step-k actions and the episodes' returns): evidence from all episodes, where the
    elite keeps only the best-scoring share, whose returns are the noisiest."""
    by_phase = _episodes_by_phase(episodes)
    n_phases = len(by_phase)
    phases = []
    for k, rows in enumerate(by_phase):
        action = critic_action([np.asarray(e["steps"][k]["action"]) for e in rows], [e["return"] for e in rows], spec)
        phases.append(((k + 1) / n_phases, spec.to_policy(action, base)))
    return Schedule(phases)


def schedule_table(schedule: Schedule, ops: tuple[str, ...]) -> tuple[list[float], np.ndarray]:
    """Phase ends and a ``[n_phases, len(ops)]`` matrix of expected applications per image of each op."""
    ends, rows = [], []
    start = 0.0
    for end in schedule.ends:
        mid = (start + end) / 2
        dist = schedule.op_distribution(mid)
        rows.append([dist.get(op, 0.0) for op in ops])
        ends.append(end)
        start = end
    return ends, np.asarray(rows)


def plot_schedule(schedule: Schedule, ops: tuple[str, ...], path: str | Path, title: str = "") -> Path:
    """Heatmap of op use (expected applications per image) per training phase, saved as PNG. A schedule that
    applies nothing says so in words (an all-dark heatmap reads as augmentation)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ends, table = schedule_table(schedule, ops)
    keep = [i for i, op in enumerate(ops) if op != "Identity"]
    title = title or "op use per phase (expected applications per image)"
    learner = getattr(schedule, "observes_batches", False)  # a learner has no op use before it trains
    if learner or not keep or float(table[:, keep].max(initial=0.0)) <= 0:
        fig, ax = plt.subplots(figsize=(6.0, 2.2), layout="constrained")
        ax.axis("off")
        words = "a controller that learns inside the run:\nits ops are decided per sample as the model trains"
        ax.text(0.5, 0.55, words if learner else "no augmentation in any phase", ha="center", va="center", fontsize=12)
        ax.set_title("\n".join(textwrap.wrap(title, 60)), fontsize=9)
    else:
        # wide enough for the title and colour bar even with one phase
        fig, ax = plt.subplots(figsize=(max(5.5, 2.5 + 0.55 * len(ends)), 1.2 + 0.32 * len(keep)), layout="constrained")
        im = ax.imshow(table[:, keep].T, aspect="auto", cmap="viridis", vmin=0)
        ax.set_yticks(range(len(keep)), [ops[i] for i in keep])
        ax.set_xticks(range(len(ends)), [f"≤{e:.2f}" for e in ends], rotation=45)
        ax.set_xlabel("training progress (phase end)")
        ax.set_title("\n".join(textwrap.wrap(title, 60)), fontsize=9)
        fig.colorbar(im, ax=ax, fraction=0.04)
    path = Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def applies_nothing(schedule: Schedule, ops: tuple[str, ...]) -> bool:
    """Whether the schedule applies no op in any phase (the search chose no augmentation). A policy that learns
    inside the run (the online action's controller) decides its ops as the model trains: never nothing up front."""
    if getattr(schedule, "observes_batches", False):
        return False
    _, table = schedule_table(schedule, ops)
    keep = [i for i, op in enumerate(ops) if op != "Identity"]
    return not keep or float(table[:, keep].max(initial=0.0)) <= 0


def markdown_table(schedule: Schedule, ops: tuple[str, ...]) -> str:
    if getattr(schedule, "observes_batches", False):  # no op use before training: say what the learner is
        return (
            "A controller that learns inside the run: it measures each op's affinity and decides each sample's ops "
            "as the model trains (its op use is in the run's trace, not fixed up front). Settings:\n\n```\n"
            f"{schedule!r}\n```"
        )
    ends, table = schedule_table(schedule, ops)
    used = [i for i, op in enumerate(ops) if op != "Identity" and table[:, i].max() > 0]
    if not used:
        return (
            "No augmentation in any phase: the schedule applies no op ("
            + ", ".join(f"phase ending at {e:.2f}" for e in ends)
            + ")."
        )
    lines = ["| phase end | " + " | ".join(ops[i] for i in used) + " |", "|---:|" + "---:|" * len(used)]
    for end, row in zip(ends, table):
        lines.append(f"| {end:.2f} | " + " | ".join(f"{row[i]:.2f}" for i in used) + " |")
    return "\n".join(lines)

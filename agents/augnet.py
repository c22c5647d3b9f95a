"""AugNet: a small MLP controller (features -> 64 -> 32 -> action logits) trained by REINFORCE.

REINFORCE (Williams 1992) with a per-step baseline (exponential moving average of the return-to-go at each
step index, across episodes) and an entropy bonus, one update per episode, pure PyTorch, plain Gymnasium: the
agent only sees observations, rewards and a ``MultiDiscrete`` action space.

Heads. ``categorical`` gives every choice of every head its own logit. ``ordinal`` gives each ordered head with
more than two choices (RandAugment's N, magnitude bins, probability levels; ``ActionSpec.ordinal``) two outputs,
a slope and a curvature, and the logit of choice k is ``slope * z_k + curvature * z_k**2`` with z_k the choice
rescaled to [-1, 1]: a discretised Gaussian when the curvature is negative. One return then moves the whole
distribution along the order, so a run at magnitude 7 that did badly also makes 8 and 9 less likely: neighbouring
choices share evidence, as the kernel densities of TPE do, which a budget of tens of noisy child runs needs. The
expansion is a fixed linear map, folded into the last layer on export, so the controller file is a plain MLP
either way.

Updates. ``reinforce`` takes one policy-gradient step per finished episode against a moving baseline: each child
run is used once, which at budgets of 10-16 runs leaves the controller near where it started. ``critic`` is a mean
actor-critic (Asadi et al. 2017, "Mean Actor Critic") for whole-run episodes: after each episode a critic, a
ridge regression of every episode's return so far (its standardised rank: robust to a diverged run) on the
action's features (per head its choice, or for an ordered head its position and its square, and the products of
the ordered heads' positions: the features of ``policy.export.action_features``), is refitted, and the actor
takes several gradient steps on the critic's *expected* value under the current policy, summed over every choice of every head (exact: the heads are
independent and the features are products of per-head terms), plus an entropy bonus. Every past run informs every
update, heads share the critic's statistics, and no sampled action's noise enters the gradient. The first
``warmup`` episodes are drawn from the near-uniform initial policy (as TPE's start-up trials are). Written by hand:
stable-baselines3 has no actor-critic over a stateless, whole-run action with a regression critic.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from policy_search.agents.base import Agent, AgentSettings, ExportSpec
from policy_search.policy.controller import Controller, build_mlp


@dataclass
class AugNetConfig:
    """REINFORCE settings; every default runs."""

    hidden: tuple[int, ...] = (64, 32)
    """Hidden layer sizes (the seed design's 64 and 32)."""
    lr: float = 1e-2
    """Adam learning rate (40-episode budgets need big steps; measured in experiments/agents)."""
    entropy_coef: float = 0.01
    """Weight of the entropy bonus (keeps exploring early)."""
    baseline_decay: float = 0.8
    """EMA decay of the per-step return baseline."""
    heads: str = "categorical"
    """``categorical`` (a logit per choice) or ``ordinal`` (two outputs per ordered head; module docstring)."""
    gamma: float = 0.5
    """Discount. Short on purpose: a step's reward is noisy (measured SNR < 1, experiments/agents/README.md) and
    an action shows mostly in the next evaluation, so crediting far-future rewards to it mostly adds variance."""
    update: str = "reinforce"
    """``reinforce`` (one step per episode) or ``critic`` (mean actor-critic over all episodes; module docstring)."""
    warmup: int = 4
    """``critic``: episodes drawn from the initial policy before the critic steers it."""
    critic_ridge: float = 1.0
    """``critic``: ridge penalty of the critic's regression (on standardised returns; the constant is not shrunk)."""
    critic_steps: int = 25
    """``critic``: actor gradient steps after each episode."""
    critic_entropy: float = 0.1
    """``critic``: entropy bonus of those steps (the critic is in standard deviations of the returns)."""


HEADS = ("categorical", "ordinal")
UPDATES = ("reinforce", "critic")


def head_expansion(nvec: np.ndarray, ordinal: np.ndarray, heads: str) -> torch.Tensor:
    """The fixed ``[sum(nvec), outputs]`` map from the network's outputs to the heads' logits (module docstring)."""
    if heads not in HEADS:
        raise ValueError(f"unknown AugNet heads {heads!r}; choose one of {list(HEADS)}")
    blocks = []
    for n, ordered in zip(nvec.tolist(), ordinal.tolist(), strict=True):
        if heads == "ordinal" and ordered and n > 2:
            z = torch.linspace(-1.0, 1.0, n, dtype=torch.float64)
            blocks.append(torch.stack([z, z**2 - (z**2).mean()], 1))
        else:
            blocks.append(torch.eye(n, dtype=torch.float64))
    return torch.block_diag(*blocks).float()


class AugNetAgent(Agent):
    """Policy-gradient controller over a ``MultiDiscrete(nvec)`` action space."""

    supports_population = True
    action_modes = ("discrete",)
    heads = HEADS
    update_rules = UPDATES

    @classmethod
    def for_env(cls, env, settings: AgentSettings) -> AugNetAgent:
        from policy_search.child.run import FEATURE_NAMES

        overrides = {k: v for k, v in (("gamma", settings.gamma), ("lr", settings.lr)) if v is not None}
        if settings.heads is not None:
            overrides["heads"] = settings.heads
        if settings.update is not None:
            overrides["update"] = settings.update
        spec = env.unwrapped.action_spec
        return cls(len(FEATURE_NAMES), spec.nvec, AugNetConfig(**overrides), seed=settings.seed, ordinal=spec.ordinal)

    def __init__(
        self,
        obs_dim: int,
        nvec: np.ndarray,
        config: AugNetConfig | None = None,
        seed: int = 0,
        ordinal: np.ndarray | None = None,
    ) -> None:
        self.config = config or AugNetConfig()
        if self.config.update not in UPDATES:
            raise ValueError(f"unknown AugNet update {self.config.update!r}; choose one of {list(UPDATES)}")
        self.nvec = np.asarray(nvec, dtype=np.int64)
        ordered = np.zeros(len(self.nvec), bool) if ordinal is None else np.asarray(ordinal, dtype=bool)
        self.ordinal = ordered
        self.history: list[tuple[list[float], list[int], float]] = []  # critic: (obs, action, return) per episode
        self.expansion = head_expansion(self.nvec, ordered, self.config.heads)
        torch.manual_seed(seed)
        self.net = build_mlp([obs_dim, *self.config.hidden, self.expansion.shape[1]], "tanh")
        with torch.no_grad():  # start near uniform: small final layer, as PPO's orthogonal init does (gain 0.01)
            self.net[-1].weight.mul_(0.01)
            self.net[-1].bias.zero_()
        self.optimizer = torch.optim.Adam(self.net.parameters(), lr=self.config.lr)
        self.generator = torch.Generator().manual_seed(seed)
        self.baseline: np.ndarray | None = None
        self.updates = 0

    def _dists(self, obs: torch.Tensor) -> list[torch.distributions.Categorical]:
        logits = self.net(obs) @ self.expansion.T
        return [torch.distributions.Categorical(logits=part) for part in torch.split(logits, self.nvec.tolist(), -1)]

    def act(self, obs: np.ndarray, deterministic: bool = False) -> np.ndarray:
        with torch.no_grad():
            dists = self._dists(torch.as_tensor(obs, dtype=torch.float32))
        if deterministic:
            return np.asarray([int(d.probs.argmax()) for d in dists], dtype=np.int64)
        return np.asarray([int(torch.multinomial(d.probs, 1, generator=self.generator)) for d in dists], dtype=np.int64)

    def learn(self, observations, actions, rewards) -> dict:
        return self.update(observations, actions, rewards)

    def learn_batch(self, observations, actions, advantages) -> dict:
        return self.update_batch(observations, actions, advantages)

    def controller(self, spec: ExportSpec) -> Controller:
        net = build_mlp([len(spec.feature_names), *self.config.hidden, int(self.nvec.sum())])
        state = dict(self.net.state_dict())
        last = len(self.net) - 1  # fold the fixed head expansion into the last layer: a plain MLP on export
        state[f"{last}.weight"] = self.expansion @ state[f"{last}.weight"]
        state[f"{last}.bias"] = self.expansion @ state[f"{last}.bias"]
        net.load_state_dict(state)
        return Controller(
            spec.action_spec,
            net,
            spec.feature_names,
            observe_every=spec.observe_every,
            synthetic=spec.synthetic,
            image_spec=spec.image_spec,
            decision=spec.decision,
        )

    def update(self, observations: list[np.ndarray], actions: list[np.ndarray], rewards: list[float]) -> dict:
        """One REINFORCE step on a finished episode (or, with ``update="critic"``, the critic refitted and the
        actor's steps on it). Returns loss statistics for logging."""
        cfg = self.config
        if cfg.update == "critic":
            return self._critic_update(observations, actions, rewards)
        returns = np.zeros(len(rewards))
        running = 0.0
        for t in reversed(range(len(rewards))):
            running = rewards[t] + cfg.gamma * running
            returns[t] = running
        if self.baseline is None or len(self.baseline) != len(returns):
            baseline = returns.copy() if self.baseline is None else np.resize(self.baseline, len(returns))
        else:
            baseline = self.baseline
        advantage = returns - baseline
        self.baseline = cfg.baseline_decay * baseline + (1 - cfg.baseline_decay) * returns
        scale = max(float(np.std(returns)), float(np.abs(advantage).mean()), 1.0)  # keeps steps O(1)
        return self._step(observations, actions, advantage, scale)

    def update_batch(self, observations, actions, advantages) -> dict:
        """One REINFORCE step on decisions whose advantages are already relative to a baseline (a population's
        mean, OHL-AutoAug style): ``advantages[k]`` credits ``actions[k]`` taken at ``observations[k]``."""
        advantage = np.asarray(advantages, dtype=np.float64)
        scale = max(float(np.std(advantage)), 1e-3)  # population rewards are centred; scale them to unit spread
        return self._step(list(observations), list(actions), advantage, scale)

    def _step(self, observations, actions, advantage: np.ndarray, scale: float) -> dict:
        cfg = self.config
        obs = torch.as_tensor(np.stack(observations), dtype=torch.float32)
        act = torch.as_tensor(np.stack(actions), dtype=torch.long)
        dists = self._dists(obs)
        logp = torch.stack([d.log_prob(act[:, i]) for i, d in enumerate(dists)], -1).sum(-1)
        entropy = torch.stack([d.entropy() for d in dists], -1).sum(-1)
        adv = torch.as_tensor(advantage / scale, dtype=torch.float32)
        loss = -(adv * logp).mean() - cfg.entropy_coef * entropy.mean()
        self._descend(loss)
        self.updates += 1
        return {
            "losses/policy_loss": float(loss.detach()),
            "losses/entropy": float(entropy.detach().mean()),
            "losses/mean_advantage": float(advantage.mean()),
        }

    def _descend(self, loss: torch.Tensor) -> None:
        """One Adam step on ``loss`` with the gradient norm clipped at 1."""
        self.optimizer.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(self.net.parameters(), 1.0)
        self.optimizer.step()

    def _critic_update(self, observations, actions, rewards) -> dict:
        """Mean actor-critic on whole-run episodes (module docstring): record the episode, refit the critic on all
        of them, take ``critic_steps`` actor steps on its expected value."""
        cfg = self.config
        if len(actions) != 1:
            raise ValueError("AugNet's critic update learns whole-run policies: use --steps-per-episode 1")
        ret = float(sum(rewards))
        if not np.isfinite(ret):
            raise ValueError(f"AugNet's critic update got a non-finite return ({ret}); it cannot rank that run")
        self.history.append(([float(v) for v in observations[0]], [int(a) for a in actions[0]], ret))
        returns = np.asarray([h[2] for h in self.history])
        if len(self.history) < max(cfg.warmup, 2) or float(returns.std()) == 0.0:
            return {"losses/critic_episodes": float(len(self.history))}
        coef = torch.as_tensor(self._critic_coef(returns), dtype=torch.float32)
        obs = torch.as_tensor(np.asarray([h[0] for h in self.history]), dtype=torch.float32)
        for _ in range(cfg.critic_steps):
            dists = self._dists(obs)
            value = self._expected_features([d.probs for d in dists]) @ coef
            entropy = torch.stack([d.entropy() for d in dists], -1).sum(-1)
            loss = -value.mean() - cfg.critic_entropy * entropy.mean()
            self._descend(loss)
        self.updates += 1
        return {
            "losses/policy_loss": float(loss.detach()),
            "losses/entropy": float(entropy.detach().mean()),
            "losses/critic_value": float(value.detach().mean()),
        }

    def _critic_coef(self, returns: np.ndarray) -> np.ndarray:
        """Ridge regression of the returns' standardised ranks on the actions' features (the constant unshrunk).
        Ranks, not values: a diverged child's penalty (-10 against returns near 100) would otherwise squash every
        other difference for the rest of the search, since the critic never forgets a run."""
        from types import SimpleNamespace

        from scipy.stats import rankdata

        from policy_search.policy.export import action_features

        spec = SimpleNamespace(nvec=self.nvec, ordinal=self.ordinal)
        x = action_features(np.asarray([h[1] for h in self.history]), spec)
        ranks = rankdata(returns)
        y = (ranks - ranks.mean()) / ranks.std()
        penalty = self.config.critic_ridge * np.eye(x.shape[1])
        penalty[-1, -1] = 0.0
        return np.linalg.solve(x.T @ x + penalty, x.T @ y)

    def _expected_features(self, probs: list[torch.Tensor]) -> torch.Tensor:
        """E[action_features] under independent heads with these choice probabilities ``[B, n]`` per head: the
        same columns, in the same order, as ``policy.export.action_features``."""
        cols, positions = [], []
        for p, n, ordered in zip(probs, self.nvec.tolist(), self.ordinal.tolist(), strict=True):
            if ordered and n > 2:
                z = torch.linspace(-1.0, 1.0, n)
                cols += [p @ z, p @ z**2]
                positions.append(p @ z)
            else:
                cols += [p[:, k] for k in range(1, n)]
        cols += [positions[i] * positions[j] for i in range(len(positions)) for j in range(i + 1, len(positions))]
        return torch.stack([*cols, torch.ones_like(cols[0])], 1)

    def state_dict(self) -> dict:
        # plain data only (the baseline as a list, the generator state as a tensor): loads with weights_only=True
        return {
            "net": self.net.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "generator": self.generator.get_state(),
            "baseline": None if self.baseline is None else [float(b) for b in self.baseline],
            "updates": self.updates,
            "heads": self.config.heads,
            "update": self.config.update,
            "history": [[o, a, r] for o, a, r in self.history],
        }

    def load_state_dict(self, state: dict) -> None:
        heads = state.get("heads", "categorical")
        if heads != self.config.heads:
            raise ValueError(f"the checkpoint's AugNet has {heads} heads, not {self.config.heads}; resume with them")
        update = state.get("update", "reinforce")
        if update != self.config.update:
            raise ValueError(f"the checkpoint's AugNet learned by {update}, not {self.config.update}; resume with it")
        self.history = [(list(o), list(a), float(r)) for o, a, r in state.get("history", [])]
        self.net.load_state_dict(state["net"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.generator.set_state(state["generator"])
        baseline = state["baseline"]
        self.baseline = None if baseline is None else np.asarray(baseline, dtype=np.float64)
        self.updates = int(state["updates"])

"""PPO from stable-baselines3, sized for expensive episodes, and its export as a frozen controller.

One episode is a whole child training run (seconds to hours), so SB3's default of 2,048 steps before the first
update would mean hundreds of child runs before PPO learns anything. Here a rollout is ``episodes_per_update``
episodes (default 1: 8 steps), minibatches are one episode long, and the actor and critic are the seed design's
64-32 MLPs with tanh, so the actor exports to the same controller format as AugNet. gamma 0.5 and learning rate
1e-2 (not SB3's 0.99 / 3e-4): per-step rewards are noisy and budgets are tens of episodes; on mnist-episode this
moved PPO from no clear learning in 40 episodes to +22 return points (experiments/agents/README.md).
"""

from __future__ import annotations

import gymnasium as gym
import torch
from torch import nn

from policy_search.agents.base import Agent, AgentSettings, ExportSpec
from policy_search.policy.action_space import ActionSpec
from policy_search.policy.controller import Controller, build_mlp


class PPOAgent(Agent):
    """stable-baselines3 PPO behind the agent interface: one ``play`` is one rollout of one episode; its
    checkpoint is SB3's own zip archive, held in memory so that it travels inside the trainer's checkpoint."""

    @classmethod
    def for_env(cls, env: gym.Env, settings: AgentSettings) -> PPOAgent:
        return cls(env, settings)

    def __init__(self, env: gym.Env, settings: AgentSettings) -> None:
        overrides = {k: v for k, v in (("gamma", settings.gamma), ("learning_rate", settings.lr)) if v is not None}
        self.episode_length = settings.episode_length
        self.model = build_ppo(env, settings.episode_length, seed=settings.seed, **overrides)

    def act(self, obs):
        action, _ = self.model.predict(obs, deterministic=False)
        return action

    def play(self, env: gym.Env) -> dict[str, float]:
        if getattr(env, "is_population", False):
            raise ValueError("PPO cannot train a population; use --agent augnet")
        # One rollout = one episode; reset_num_timesteps=False continues the same run across calls.
        self.model.learn(total_timesteps=self.episode_length, reset_num_timesteps=False, progress_bar=False)
        return {}

    def state_dict(self) -> dict:
        import io

        buffer = io.BytesIO()
        self.model.save(buffer)
        return {"sb3_zip": buffer.getvalue()}

    def load_state_dict(self, state: dict) -> None:
        import io

        from stable_baselines3 import PPO

        self.model = PPO.load(io.BytesIO(state["sb3_zip"]), env=self.model.get_env(), device="cpu")

    def controller(self, spec: ExportSpec) -> Controller:
        return ppo_controller(
            self.model,
            spec.action_spec,
            spec.feature_names,
            spec.observe_every,
            spec.box,
            synthetic=spec.synthetic,
            image_spec=spec.image_spec,
            decision=spec.decision,
        )


def build_ppo(
    env: gym.Env,
    episode_length: int,
    *,
    seed: int = 0,
    episodes_per_update: int = 1,
    learning_rate: float = 1e-2,
    ent_coef: float = 0.01,
    n_epochs: int = 10,
    gamma: float = 0.5,
):
    """A PPO agent over ``env`` (plain Gymnasium; wrapped in SB3's DummyVecEnv here)."""
    from stable_baselines3 import PPO
    from stable_baselines3.common.vec_env import DummyVecEnv

    if episode_length < 1 or episodes_per_update < 1:
        raise ValueError("episode_length and episodes_per_update must be >= 1")
    n_steps = max(2, episode_length * episodes_per_update)  # SB3 normalises advantages: needs 2+ samples
    return PPO(
        "MlpPolicy",
        DummyVecEnv([lambda: env]),
        n_steps=n_steps,
        batch_size=min(n_steps, max(episode_length, 4)),
        n_epochs=n_epochs,
        learning_rate=learning_rate,
        gamma=gamma,
        gae_lambda=0.95,
        ent_coef=ent_coef,
        clip_range=0.2,
        normalize_advantage=True,
        policy_kwargs={"net_arch": {"pi": [64, 32], "vf": [64, 32]}, "activation_fn": nn.Tanh},
        seed=seed,
        device="cpu",
        verbose=0,
    )


def ppo_controller(
    model,
    spec: ActionSpec,
    feature_names: list[str],
    observe_every: int,
    box: bool,
    base=None,
    synthetic: str | None = None,
    image_spec=None,
    decision: str = "argmax",
) -> Controller:
    """The PPO actor (policy MLP + action head) as a frozen ``Controller``: argmax of (or a draw from) the logits
    (MultiDiscrete), or the Gaussian mean mapped to bins (Box)."""
    policy = model.policy
    linears = [m for m in policy.mlp_extractor.policy_net if isinstance(m, nn.Linear)] + [policy.action_net]
    sizes = [linears[0].in_features] + [m.out_features for m in linears]
    network = build_mlp(sizes, "tanh")
    with torch.no_grad():
        for dst, src in zip([m for m in network if isinstance(m, nn.Linear)], linears):
            dst.weight.copy_(src.weight.detach().cpu())
            dst.bias.copy_(src.bias.detach().cpu())
    return Controller(
        spec,
        network,
        feature_names,
        observe_every=observe_every,
        box=box,
        base=base,
        synthetic=synthetic,
        image_spec=image_spec,
        decision=decision,
    )

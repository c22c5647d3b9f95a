import gymnasium as gym
import numpy as np
import pytest

import policy_search  # noqa: F401  (registers the env)
from policy_search.envs.augment_env import AugmentEnv
from policy_search.policy.action_space import ActionSpec

TINY = {"train_size": 256, "epochs": 1, "eval_samples": 128, "batch_size": 32}


def make(**kw):
    return AugmentEnv("mnist-episode", steps_per_episode=4, task_overrides=TINY, **kw)


def test_gymnasium_make_accepts_task_and_passes_both_checkers():
    from gymnasium.utils.env_checker import check_env
    from stable_baselines3.common.env_checker import check_env as sb3_check_env

    env = gym.make("policy_search/Augment-v0", task="mnist-episode", steps_per_episode=4, task_overrides=TINY)
    check_env(env.unwrapped, skip_render_check=True)
    sb3_check_env(env.unwrapped, warn=True)
    sb3_check_env(make(action_mode="box"), warn=True)


def test_seeded_resets_and_steps_are_reproducible():
    a, b = make(), make()
    oa, _ = a.reset(seed=5)
    ob, _ = b.reset(seed=5)
    np.testing.assert_array_equal(oa, ob)
    action = np.array([5, 9, 3, 12, 4, 1])
    ra, rb = a.step(action), b.step(action)
    assert ra[1] == rb[1] and np.array_equal(ra[0], rb[0])
    assert make().reset(seed=6)[1]["child_seed"] != make().reset(seed=5)[1]["child_seed"]


def test_episode_is_one_child_run_and_reward_types():
    env = make()
    obs, info = env.reset(seed=0)
    assert obs.dtype == np.float32 and env.observation_space.contains(obs)
    steps, total = 0, 0.0
    while True:
        obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
        assert isinstance(reward, float) and isinstance(terminated, bool) and isinstance(truncated, bool)
        assert "wall" not in " ".join(info)  # wall-clock time stays out of info
        total += reward
        steps += 1
        if terminated:
            break
    assert steps == 4 and env.run.done
    with pytest.raises(PermissionError):
        env.run.evaluate("test")  # the test split is locked during search


def test_cost_penalty_is_deterministic_and_charged():
    env = make(cost_weight=1.0)
    env.reset(seed=0)
    identity = ActionSpec().ops.index("Identity")
    sharp = ActionSpec().ops.index("Sharpness")
    _, _, _, _, info_id = env.step(np.array([identity, 0, 0, identity, 0, 0]))
    _, _, _, _, info_sh = env.step(np.array([sharp, 9, 3, sharp, 9, 3]))
    assert info_id["cost"] == 0.0 and info_sh["cost"] > 0.0


def test_diverging_child_ends_episode_with_penalty(caplog):
    env = AugmentEnv("mnist-episode", steps_per_episode=4, task_overrides={**TINY, "lr": 1e12}, divergence_penalty=7.0)
    env.reset(seed=0)
    with caplog.at_level("WARNING"):
        for _ in range(4):
            _, reward, terminated, _, info = env.step(env.action_space.sample())
            if "diverged" in info:
                break
    assert "diverged" in info and terminated and reward == -7.0
    assert "diverged" in caplog.text


def test_fixed_policy_runs_through_the_same_env():
    env = make(fixed_policy="flip-crop")
    env.reset(seed=0)
    _, reward, _, _, info = env.step(env.action_space.sample())
    assert info["cost"] > 0 and np.isfinite(reward)


def test_bad_arguments_fail_clearly():
    with pytest.raises(ValueError, match="unknown task preset"):
        AugmentEnv("imagenet-proxy")
    with pytest.raises(ValueError, match="reward_metric"):
        make(reward_metric="f1")
    with pytest.raises(ValueError, match="unknown op"):
        ActionSpec(ops=("Rotate", "Warp"))
    env = make()
    env.reset(seed=0)
    with pytest.raises(ValueError, match="out of range"):
        env.step(np.array([99, 0, 0, 0, 0, 0]))


@pytest.fixture(scope="module")
def tiny_vae(tmp_path_factory, shared_data_dir):
    """A private generator cache with a tiny MNIST VAE (256 images, 1 epoch)."""
    from policy_search.generative import train as generative

    patch = pytest.MonkeyPatch()
    patch.setenv(generative.GENERATORS_ENV, str(tmp_path_factory.mktemp("generators")))
    generative._LOADED.clear()
    generative.get_generator("mnist", "vae", "tiny", progress=False)
    yield
    generative._LOADED.clear()
    patch.undo()


def test_synthetic_ratio_is_an_action_and_is_charged(tiny_vae):
    env = make(synthetic="vae:tiny", cost_weight=1.0)
    assert len(env.action_space.nvec) == 7  # 2 slots x (op, magnitude, probability) + ratio level
    env.reset(seed=0)
    identity = env.action_spec.ops.index("Identity")
    _, _, _, _, off = env.step(np.array([identity, 0, 0, identity, 0, 0, 0]))
    _, _, _, _, on = env.step(np.array([identity, 0, 0, identity, 0, 0, 4]))
    assert off["synthetic_ratio"] == 0.0 and off["cost"] == 0.0
    assert on["synthetic_ratio"] == 0.5 and on["cost"] > 0.0


def test_controller_with_synthetic_ratio_round_trips(tiny_vae, tmp_path):
    import torch

    from policy_search import load_policy
    from policy_search.train_agent import TrainConfig, train

    out = tmp_path / "syn"
    train(
        TrainConfig(
            agent="augnet",
            episodes=1,
            out=str(out),
            synthetic="vae:tiny",
            epochs=0.3,
            steps_per_episode=2,
            progress_bar=False,
        )
    )
    controller = load_policy(str(out / "policy.json"))
    assert controller.needs_labels and controller.synthetic == "vae:tiny"
    action = controller.action.copy()
    action[-1] = 4  # ratio 0.5
    controller.set_action(action)
    images = torch.randint(0, 256, (8, 1, 28, 28), dtype=torch.uint8)
    labels = torch.arange(8) % 10
    from policy_search.policy import augment_batch

    assert isinstance(controller(images, generator=torch.Generator().manual_seed(0)), torch.Tensor)  # one type
    assert controller.batch_stage() is not None and controller.batch_stage().ratio == 0.5
    out_images, out_labels = augment_batch(controller, images, labels, torch.Generator().manual_seed(0))
    assert out_images.shape == images.shape and torch.equal(out_labels, labels)
    assert not torch.equal(out_images, images)
    with pytest.raises(ValueError, match="'vae' or 'dcgan'"):
        make(synthetic="gan")

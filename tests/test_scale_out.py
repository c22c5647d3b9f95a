"""Scale-out (issue 32): child runs dispatched to a Ray cluster give the figures the local back ends give."""

from __future__ import annotations

import json

import pytest

from policy_search.dispatch import ray_available, run_jobs

TINY = dict(train_size=256, epochs=1, eval_samples=128, val_size=200)


def _square(x: int) -> int:
    return x * x


def test_local_back_ends_yield_every_job_once_in_completion_order():
    jobs = [(i,) for i in range(5)]
    for workers in (1, 2):
        got = dict(run_jobs(_square, jobs, workers=workers))
        assert got == {i: i * i for i in range(5)}
    assert list(run_jobs(_square, [])) == []


def test_missing_or_unreachable_ray_is_one_line(monkeypatch):
    from policy_search import dispatch

    if not ray_available():
        with pytest.raises(ValueError, match="pip install"):
            list(run_jobs(_square, [(1,)], ray="auto"))
        return
    import ray

    def refuse(*args, **kwargs):
        raise ConnectionError("Could not find any running Ray instance.\nmore detail")

    monkeypatch.setattr(ray, "init", refuse)
    with pytest.raises(ValueError, match="cannot reach the Ray cluster '10.0.0.1:6379'") as info:
        dispatch.connect("10.0.0.1:6379")
    assert "\n" not in str(info.value)


@pytest.mark.timeout(600)
@pytest.mark.skipif(not ray_available(), reason="Ray is not installed (pip install 'policy-search[ray]')")
def test_benchmark_through_ray_gives_the_local_figures(tmp_path, shared_data_dir, monkeypatch):
    """The same benchmark on a private one-machine Ray cluster (--ray local) and on the local pool: every run
    present once, and the same accuracies and statistics (wall times aside)."""
    from policy_search.benchmark.harness import run_benchmark

    monkeypatch.setenv("POLICY_SEARCH_THREADS", "1")
    common = dict(
        device="cpu",
        data_dir=str(shared_data_dir),
        overrides=TINY,
        robustness_samples=0,
        progress=False,
        adaptive_baseline=False,
    )
    local = run_benchmark("mnist-proxy", ["none", "randaugment"], 2, str(tmp_path / "local"), workers=2, **common)
    remote = run_benchmark("mnist-proxy", ["none", "randaugment"], 2, str(tmp_path / "ray"), ray="local", **common)
    assert remote["counts"] == {"computed": 4, "shared": 0, "cached": 0, "total": 4}
    runs = sorted((tmp_path / "ray" / "runs").glob("*.json"))
    assert len(runs) == 4
    for path in runs:
        a = json.loads(path.read_text())
        b = json.loads((tmp_path / "local" / "runs" / path.name).read_text())
        assert a["test"] == b["test"] and a["val"] == b["val"], path.name
    for name, table in local["comparisons"].items():  # the paired statistics of the figures (not of wall times)
        assert table["test_accuracy"] == remote["comparisons"][name]["test_accuracy"], name
    import ray

    assert not ray.is_initialized()  # the private cluster this command started is stopped


@pytest.mark.timeout(240)
@pytest.mark.skipif(not ray_available(), reason="Ray is not installed (pip install 'policy-search[ray]')")
def test_a_worker_node_killed_mid_run_loses_nothing(tmp_path, monkeypatch):
    """A real two-node cluster on this machine (a head and a second node, one CPU each): the second node's raylet is
    killed while it runs jobs; Ray reruns its jobs on the head, and every result arrives once."""
    import os
    import secrets
    import shutil
    import sys

    def _slow_square(x: int, marker: str) -> int:  # nested: Ray pickles it by value (workers cannot import tests)
        import os
        import time
        from pathlib import Path

        Path(marker).mkdir(parents=True, exist_ok=True)
        (Path(marker) / f"{x}-{os.getpid()}-{time.monotonic_ns()}").touch()  # one mark per attempt
        time.sleep(2.0)
        return x * x

    ray_cli = shutil.which("ray", path=os.path.dirname(sys.executable))
    if ray_cli is None:
        pytest.skip("the ray command is not on this Python's path")

    # a home of its own: Ray keeps per-user state (an auth token a cluster left behind) under ~/.ray
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    (tmp_path / "home").mkdir()
    # Token authentication with a token of this cluster's own, for the nodes and this driver alike: an earlier
    # `--ray local` cluster in this process switched the process to token mode (Ray sets RAY_AUTH_MODE=token in
    # os.environ) and cached its token, so a cluster started under the fresh home was refused without one
    auth = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32)}
    saved = {k: os.environ.get(k) for k in auth}
    try:
        os.environ.update(auth)
        _reload_ray_auth()
        _two_node_run(tmp_path, ray_cli, _slow_square)
    finally:
        for key, value in saved.items():  # the process as it was (later tests start clusters of their own)
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        _reload_ray_auth()


def _two_node_run(tmp_path, ray_cli: str, slow_square) -> None:
    """Start a head and a second node, kill the second's raylet mid-run, check every result arrives once."""
    import os
    import shutil
    import signal
    import socket
    import subprocess
    import threading
    import time

    def free_ports(n: int) -> list[int]:  # n distinct free ports on this machine (held open together while chosen)
        socks = [socket.socket() for _ in range(n)]
        for sock in socks:
            sock.bind(("127.0.0.1", 0))
        ports = [sock.getsockname()[1] for sock in socks]
        for sock in socks:
            sock.close()
        return ports

    temp = f"/tmp/ps-ray-{os.getpid()}"  # short: Ray's socket paths must fit in 107 characters
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    try:
        failures = []
        for _ in range(2):  # a port taken between choosing it and Ray binding it: once more with fresh ones
            port, worker_port, client_port = free_ports(3)
            head = [ray_cli, "start", "--head", f"--port={port}", "--num-cpus=1", "--include-dashboard=false"]
            head += [f"--ray-client-server-port={client_port}", f"--temp-dir={temp}"]
            node = [
                ray_cli,
                "start",
                f"--address=127.0.0.1:{port}",
                "--num-cpus=1",
                f"--node-manager-port={worker_port}",
            ]
            try:
                subprocess.run(head, env=env, check=True, capture_output=True, text=True, timeout=90)
                subprocess.run(node, env=env, check=True, capture_output=True, text=True, timeout=90)
                break
            except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
                said = (exc.stderr or "") if isinstance(exc.stderr, str) else ""
                failures.append(f"{exc.cmd[1:3]}: {said.strip().splitlines()[-1:] or exc}")
                subprocess.run([ray_cli, "stop", "--force"], env=env, capture_output=True, timeout=60)
        else:
            pytest.skip(f"Ray could not start a local two-node cluster here: {failures}")
        import ray

        from policy_search import dispatch

        dispatch.connect(f"127.0.0.1:{port}")
        try:
            deadline = time.monotonic() + 60
            while len([n for n in ray.nodes() if n["Alive"]]) < 2 and time.monotonic() < deadline:
                time.sleep(0.5)
            assert len([n for n in ray.nodes() if n["Alive"]]) == 2

            def kill_second_raylet() -> None:
                time.sleep(3.0)  # both nodes are running jobs by now
                out = subprocess.run(["pgrep", "-f", f"raylet.*node_manager_port={worker_port}"], capture_output=True)
                for pid in out.stdout.split():
                    os.kill(int(pid), signal.SIGKILL)

            killer = threading.Thread(target=kill_second_raylet)
            killer.start()
            marks = tmp_path / "marks"
            jobs = [(i, str(marks)) for i in range(8)]
            results = dict(run_jobs(slow_square, jobs, ray=f"127.0.0.1:{port}", max_retries=5))
            killer.join()
            assert results == {i: i * i for i in range(8)}  # every result, once
            attempts = len(list(marks.iterdir()))
            assert attempts >= 8  # reruns of the lost jobs show as extra attempts
        finally:
            ray.shutdown()
    finally:
        subprocess.run([ray_cli, "stop", "--force"], env=env, capture_output=True, timeout=60)
        shutil.rmtree(temp, ignore_errors=True)


def _reload_ray_auth() -> None:
    """Make this process read RAY_AUTH_MODE / RAY_AUTH_TOKEN again (Ray caches both at its first cluster)."""
    from ray._raylet import AuthenticationTokenLoader, Config

    Config.initialize("")
    AuthenticationTokenLoader.instance().reset_cache()


@pytest.mark.timeout(600)
@pytest.mark.skipif(not ray_available(), reason="Ray is not installed (pip install 'policy-search[ray]')")
def test_population_members_on_ray_train_what_the_local_members_train(tmp_path, shared_data_dir, monkeypatch):
    """train_agent --population 2 --ray local: the members' segments run as Ray tasks, and the run is the one the
    local back end trains (the same validation accuracies per member and segment)."""
    import csv

    from policy_search.train_agent import TrainConfig, train

    monkeypatch.setenv("POLICY_SEARCH_THREADS", "1")
    common = dict(task="mnist-episode", population=2, episodes=2, steps_per_episode=1, epochs=0.25, progress_bar=False)
    train(TrainConfig(**common, out=str(tmp_path / "local"), data_dir=str(shared_data_dir)))
    train(TrainConfig(**common, out=str(tmp_path / "ray"), ray="local", data_dir=str(shared_data_dir)))

    def accs(folder: str) -> list[str]:
        with open(tmp_path / folder / "episodes.csv", newline="") as f:
            return [row["final_val_acc"] for row in csv.DictReader(f)]

    assert accs("ray") == accs("local") and len(accs("ray")) == 2
    with pytest.raises(ValueError, match="--population"):
        TrainConfig(ray="local").validate()


def _episode_rows(folder) -> list[dict]:
    import csv

    with open(folder / "episodes.csv", newline="") as f:
        return [{k: row[k] for k in ("episode", "child_seed", "final_val_acc", "actions")} for row in csv.DictReader(f)]


@pytest.mark.timeout(600)
def test_batches_of_episodes_play_the_sequential_runs_episodes_side_by_side(tmp_path, shared_data_dir, monkeypatch):
    """train_agent --batch-episodes 2: episode k is the sequential run's episode k (same child seed, and the same
    result for the same action), whether played in this process or in two workers."""
    import numpy as np

    from policy_search.envs.episode_batch import play_episode
    from policy_search.train_agent import TrainConfig, _make_env, train

    monkeypatch.setenv("POLICY_SEARCH_THREADS", "1")
    common = dict(task="mnist-episode", episodes=4, steps_per_episode=1, epochs=0.25, progress_bar=False)
    common.update(data_dir=str(shared_data_dir))
    train(TrainConfig(**common, out=str(tmp_path / "seq")))
    train(TrainConfig(**common, batch_episodes=2, out=str(tmp_path / "one")))
    train(TrainConfig(**common, batch_episodes=2, workers=2, out=str(tmp_path / "two")))
    seq, one, two = (_episode_rows(tmp_path / f) for f in ("seq", "one", "two"))
    assert one == two and len(one) == 4  # the back end does not change a run
    assert [r["child_seed"] for r in one] == [r["child_seed"] for r in seq]
    # the same action at the same index is the same episode as the sequential env plays it
    env = _make_env(TrainConfig(**common, batch_episodes=2, out=str(tmp_path / "x")))
    action = json.loads(seq[1]["actions"])[0]
    record = play_episode(env.env_kwargs, 0, 1, action)["record"]
    assert record["final_val_acc"] == pytest.approx(float(seq[1]["final_val_acc"]))
    assert np.isfinite(record["return"])
    with pytest.raises(ValueError, match="--batch-episodes plays whole-run episodes"):
        TrainConfig(**{**common, "steps_per_episode": 2}, batch_episodes=2).validate()
    with pytest.raises(ValueError, match="--batch-episodes trains"):
        TrainConfig(**common, agent="ppo", batch_episodes=2).validate()


@pytest.mark.timeout(600)
@pytest.mark.skipif(not ray_available(), reason="Ray is not installed (pip install 'policy-search[ray]')")
def test_batches_of_episodes_on_ray_are_the_local_batches(tmp_path, shared_data_dir, monkeypatch):
    from policy_search.train_agent import TrainConfig, train

    monkeypatch.setenv("POLICY_SEARCH_THREADS", "1")
    common = dict(task="mnist-episode", episodes=2, steps_per_episode=1, epochs=0.25, progress_bar=False)
    common.update(data_dir=str(shared_data_dir), batch_episodes=2)
    train(TrainConfig(**common, out=str(tmp_path / "local")))
    train(TrainConfig(**common, ray="local", out=str(tmp_path / "ray")))
    assert _episode_rows(tmp_path / "ray") == _episode_rows(tmp_path / "local")


def _marked_processes(mark: str) -> dict[int, str]:
    """pid -> command line of every process that carries the session mark."""
    import os

    found = {}
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                with open(f"/proc/{pid}/environ", "rb") as f:
                    if f"POLICY_SEARCH_TEST_MARK={mark}".encode() in f.read().split(b"\0"):
                        with open(f"/proc/{pid}/cmdline", "rb") as c:
                            found[int(pid)] = c.read().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
    return found


@pytest.mark.timeout(300)
@pytest.mark.skipif(not ray_available(), reason="Ray is not installed (pip install 'policy-search[ray]')")
def test_a_driver_killed_with_kill_9_leaves_no_ray_process(tmp_path):
    """--ray local: the private cluster (GCS, raylet, agents, workers running a job) is gone seconds after its
    driver is killed with kill -9 (without the watchdog, Ray's per-node agents outlived it by ~2 minutes)."""
    import os
    import signal
    import subprocess
    import sys
    import time
    import uuid

    mark = uuid.uuid4().hex
    # a test-only mark, inherited by every process the driver starts (the driver's own mark is its secret)
    env = {**os.environ, "POLICY_SEARCH_TEST_MARK": mark, "HOME": str(tmp_path), "POLICY_SEARCH_THREADS": "1"}
    script = (
        "import time\nfrom policy_search.dispatch import run_jobs\nlist(run_jobs(time.sleep, [(300,)], ray='local'))"
    )
    driver = subprocess.Popen([sys.executable, "-c", script], env=env, cwd=tmp_path)
    deadline = time.monotonic() + 180

    def running() -> bool:  # a worker runs the job
        return "ray::_ray_task" in " ".join(_marked_processes(mark).values())

    while not running() and time.monotonic() < deadline:
        time.sleep(1)
    if not running():
        driver.kill()
        pytest.skip("Ray could not start a local cluster here in 3 minutes")
    time.sleep(3)  # the node's agents (they outlived a killed driver by ~2 minutes without the watchdog)
    cluster = _cluster(mark, {})  # Ray's agents overwrite their environment's start: found as the raylet's children
    driver.send_signal(signal.SIGKILL)
    driver.wait()
    # the watchdog polls twice a second and kills in well under a second on quiet cores; Ray's own checks take
    # a minute or two. On CI's loaded cores one agent outlived 5 s (December 2026), so seconds means 30 here
    deadline = time.monotonic() + 30
    while _cluster(mark, cluster) and time.monotonic() < deadline:
        time.sleep(0.5)
    left = {p: (_command(p)[:40], _state(p)) for p in _cluster(mark, cluster)}
    assert left == {}  # no worker, agent, raylet or GCS outlives its driver by more than seconds


def _cluster(mark: str, before: dict[int, str]) -> dict[int, str]:
    """pid -> start time of the live processes that carry the test's mark, were in ``before`` (same start time), or
    descend from one of those; but the watchdog (it sweeps for seconds after the cluster is gone; its command line
    names the session variable)."""
    import os

    from policy_search.dispatch import SESSION_VARIABLE

    rows = {}  # pid -> (parent, start time)
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z" and SESSION_VARIABLE not in _command(int(pid)):
            rows[int(pid)] = (int(fields[1]), fields[19])
    marked = _marked_processes(mark)
    found = {p: r[1] for p, r in rows.items() if p in marked or before.get(p) == r[1]}
    more = found
    while more:
        more = {p: r[1] for p, r in rows.items() if r[0] in more and p not in found}
        found.update(more)
    return found


def _command(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


def _state(pid: int) -> str:
    """The process's state letter (R, S, D, Z...) from /proc, to tell a live process from a dying one."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "gone"


def test_the_session_mark_leaves_the_environment_with_the_cluster(monkeypatch):
    """Later children of a driver (another command started from the same script or shell) must not carry the
    mark of its private cluster, or that cluster's watchdog would kill them when the driver exits."""
    import os

    import ray

    from policy_search import dispatch

    monkeypatch.setenv(dispatch.SESSION_VARIABLE, "inherited")
    monkeypatch.setattr(dispatch, "_MARK", {os.getpid(): f"{dispatch.SESSION_VARIABLE}=abc"})  # no watchdog here
    monkeypatch.setattr(ray, "shutdown", lambda: None)
    dispatch._mark_environment()  # while the cluster runs: this process's own mark, never an inherited one
    assert os.environ[dispatch.SESSION_VARIABLE] == "abc"
    dispatch.disconnect()
    assert os.environ[dispatch.SESSION_VARIABLE] == "inherited"

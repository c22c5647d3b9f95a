"""The frozen controller: a trained agent's MLP, fixed, that picks the augmentation from the training state.

Exported by ``train_agent`` (PPO's actor or AugNet, both MLPs features -> 64 -> 32 -> action logits) as the
policy kind ``controller``. In any training loop::

    policy = load_policy("runs/x/policy.json")     # observes_training = True
    policy.reset()
    for step, (images, labels) in enumerate(loader):
        if step % policy.observe_every == 0:       # every K batches, as during search
            policy.observe(features)               # dict keyed by policy.feature_names
        images = policy(images, generator=g)       # uint8 [B,C,H,W] or [C,H,W]

``features`` are ``policy_search.child.run.FEATURE_NAMES`` (``ChildRun.feature_dict()`` computes them; the README
shows how to compute them in a plain PyTorch loop).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from policy_search.policy.action_space import ActionSpec
from policy_search.policy.base import AugmentParams, ImageSpec, Policy, policy_from_dict, register_kind
from policy_search.policy.file import PolicyConfigError, as_choice, as_int, as_object

DECISIONS = ("argmax", "sample")
ACTIVATIONS = ("tanh", "relu")
BODY_FIELDS = (
    "action_spec",
    "feature_names",
    "observe_every_batches",
    "decision",
    "output",
    "network",
    "base",
    "synthetic",
)


def build_mlp(sizes: list[int], activation: str = "tanh") -> nn.Sequential:
    """Linear layers of ``sizes`` with ``activation`` between them (none after the last)."""
    act = {"tanh": nn.Tanh, "relu": nn.ReLU}.get(activation)
    if act is None:
        raise ValueError(f"unknown activation {activation!r}; use tanh or relu")
    layers: list[nn.Module] = []
    for i in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2:
            layers.append(act())
    return nn.Sequential(*layers)


class Controller(Policy):
    """A frozen MLP from training-state features to an action of ``spec``; the action's policy augments."""

    container: ClassVar[bool] = True
    observes_training: ClassVar[bool] = True

    def __init__(
        self,
        spec: ActionSpec,
        network: nn.Sequential,
        feature_names: list[str],
        *,
        activation: str = "tanh",
        decision: str = "argmax",
        observe_every: int = 1,
        box: bool = False,
        base: Policy | None = None,
        synthetic: str | None = None,
        image_spec: ImageSpec | None = None,
    ) -> None:
        super().__init__(space="mixed", image_spec=image_spec)
        if decision not in DECISIONS:
            raise PolicyConfigError("decision", f"{decision!r} is not one of {DECISIONS}")
        self.spec = spec
        self.modality = spec.modality  # type: ignore[misc]  # the ops its actions choose from
        self.network = network.eval().requires_grad_(False)
        self.feature_names = list(feature_names)
        self.activation = activation
        self.decision = decision
        self.observe_every = int(observe_every)
        self.box = box
        self.base = base
        if bool(spec.ratios) != (synthetic is not None):
            raise PolicyConfigError(
                "synthetic",
                "a controller whose actions include a synthetic ratio needs the "
                "generator model ('vae' or 'dcgan'), and only then",
            )
        self.synthetic = synthetic
        # Label-aware when it controls the synthetic op: training loops then apply it through augment_batch.
        self.needs_labels = synthetic is not None
        self.reset()

    def reset(self, seed: int | None = None) -> None:
        """Back to the start of a run: the action for untrained-model features. A sampling controller draws its
        decisions from a generator seeded by ``seed`` (the run's seed; ``run_child`` passes it): each run draws
        afresh, and the same run replays. Without a seed it is seeded from OS entropy."""
        self._decision_rng = np.random.default_rng(seed)
        self._run_seed = seed  # a learner the run's choices build starts from it (as run_child seeds a policy)
        self._attached = ()  # the model of the run before is not this run's
        self.action = None  # a new run: the next choice builds its policy afresh
        self.set_action(np.zeros(len(self.spec.nvec), dtype=np.int64))
        self._observed, self._warned = False, getattr(self, "_warned", False)

    def act(self, features: Mapping[str, float] | np.ndarray) -> np.ndarray:
        """The MultiDiscrete action for ``features`` (a dict keyed by ``feature_names`` or a vector in that order)."""
        if isinstance(features, Mapping):
            missing = [n for n in self.feature_names if n not in features]
            if missing:
                raise ValueError(
                    f"the controller needs training-state features {missing} that observe() was not given; "
                    f"pass every one of {self.feature_names} (ChildRun.feature_dict() computes them)"
                )
            vec = np.asarray([features[n] for n in self.feature_names], dtype=np.float32)
        else:
            vec = np.asarray(features, dtype=np.float32).reshape(-1)
            if vec.shape[0] != len(self.feature_names):
                raise ValueError(f"feature vector has {vec.shape[0]} entries, expected {len(self.feature_names)}")
        with torch.no_grad():
            out = self.network(torch.from_numpy(vec)).numpy()
        if self.box:
            return self.spec.to_discrete(out, box=True)
        action, start = [], 0
        for n in self.spec.nvec:
            logits = out[start : start + n]
            start += n
            if self.decision == "argmax":
                action.append(int(np.argmax(logits)))
            else:
                p = np.exp(logits - logits.max())
                action.append(int(self._decision_rng.choice(n, p=p / p.sum())))
        return np.asarray(action, dtype=np.int64)

    def observe(self, features: Mapping[str, float] | np.ndarray) -> None:
        """Choose the augmentation for the next ``observe_every`` batches from the current training state."""
        self.set_action(self.act(features))
        self._observed = True

    def set_action(self, action: np.ndarray) -> None:
        """Use ``action`` (MultiDiscrete, e.g. one recorded during search) until the next ``observe``. A choice
        that learns inside the run (the online action) is kept while the action stands: rebuilt, it would forget."""
        action = np.asarray(action, dtype=np.int64)
        self._observed = True  # an explicit action counts; reset() clears this after setting the start action
        if self.action is not None and np.array_equal(action, self.action) and self.current.observes_batches:
            return
        self.action = action
        self.current = self.spec.to_policy(action, self.base)
        if self.current.observes_batches:  # a new learner starts from the run's seed and hooks the run's model
            self.current.reset(self._run_seed)
            if self._attached:
                self.current.attach(self._attached[0])
        self._synthetic_op = None
        ratio = self.spec.ratio_of(action) if self.needs_labels else 0.0
        if ratio > 0:  # built once per decision, not per batch
            from policy_search.policy.action_space import parse_synthetic
            from policy_search.policy.base import build_kind

            model, size = parse_synthetic(self.synthetic)
            # the synthetic family sits above this layer: built through the kind registry
            self._synthetic_op = build_kind("synthetic", model, ratio, size=size)

    def forward(self, images, generator=None, progress=None, params=None):  # type: ignore[override]
        """Augment with the current choice (images out). With a synthetic ratio in the action, ``batch_stage``
        holds the synthetic-data transform for that ratio, which ``augment_batch`` applies after this."""
        if not self._observed and not self._warned:
            self._warned = True
            warnings.warn(
                "this controller has not been shown the training state (observe() was never called), so it keeps "
                "the action for an untrained model (all-zero action: no flip, no crop, no ops for the compact "
                "kind). Call policy.observe(features) every observe_every_batches batches, as ChildRun does, or "
                "drop the exported schedule.json into a plain pipeline instead.",
                RuntimeWarning,
                stacklevel=2,
            )
        return super().forward(images, generator, progress, params)

    def batch_stage(self):
        """The synthetic-data transform of the current choice (None at ratio 0 or without a synthetic ratio)."""
        return self._synthetic_op

    # -- Policy interface: delegate to the current choice ------------------------------------------------------
    # The batch hooks reach a choice that learns inside the run (the online action's controller settings); on any
    # other choice they are the base class's no-ops.
    @property
    def observes_batches(self) -> bool:  # type: ignore[override]
        return bool(self.current.observes_batches)

    @property
    def validation_size(self) -> int:  # type: ignore[override]
        return int(self.current.validation_size)

    def __getstate__(self) -> dict[str, Any]:
        state = super().__getstate__()
        state["_attached"] = ()  # a copy or pickle does not carry the child model along
        return state

    def attach(self, model: nn.Module) -> None:
        self._attached = (model,)  # in a tuple: not registered as a submodule of the controller
        self.current.attach(model)

    def before_batch(self, ids: torch.Tensor | None = None) -> None:
        self.current.before_batch(ids)

    def after_batch(self, ids=None, logits=None, targets=None, mask=None) -> None:
        self.current.after_batch(ids=ids, logits=logits, targets=targets, mask=mask)

    def needs_validation(self) -> bool:
        return bool(self.current.needs_validation())

    def validate_batch(self, predict: Any, inputs: Any, labels: torch.Tensor) -> int:
        return int(self.current.validate_batch(predict, inputs, labels))

    def sample_batch(
        self, batch_size: int, image_size: tuple[int, int], g: torch.Generator, progress: float | None
    ) -> AugmentParams:
        return self.current.sample_batch(batch_size, image_size, g, progress)

    def op_distribution(self, progress: float | None = None) -> dict[str, float]:
        return self.current.op_distribution(progress)

    def body(self) -> dict[str, Any]:
        linears = [m for m in self.network if isinstance(m, nn.Linear)]
        return {
            "action_spec": self.spec.to_dict(),
            "feature_names": self.feature_names,
            "observe_every_batches": self.observe_every,
            "decision": self.decision,
            "output": "box" if self.box else "logits",
            "network": {
                "activation": self.activation,
                "layers": [{"weight": m.weight.tolist(), "bias": m.bias.tolist()} for m in linears],
            },
            "base": None if self.base is None else self.base.to_dict(),
            "synthetic": self.synthetic,
        }

    @classmethod
    def from_body(
        cls, body: dict[str, Any], semantics: dict[str, Any], image_spec: ImageSpec, where: str
    ) -> Controller:
        def field(name: str) -> Any:
            if name not in body:
                raise PolicyConfigError(f"{where}.{name}", "is missing")
            return body[name]

        as_object(body, where, allowed=BODY_FIELDS)
        output = as_choice(body.get("output", "logits"), f"{where}.output", ("logits", "box"), "controller output")
        decision = as_choice(body.get("decision", "argmax"), f"{where}.decision", DECISIONS, "decision")
        observe_every = as_int(body.get("observe_every_batches", 1), f"{where}.observe_every_batches", low=1)

        try:
            spec = ActionSpec.from_dict(dict(field("action_spec")))
        except (TypeError, ValueError) as err:
            raise PolicyConfigError(f"{where}.action_spec", str(err)) from None
        names = field("feature_names")
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise PolicyConfigError(f"{where}.feature_names", "must be a list of feature names")
        box = output == "box"
        network, activation = _network_from_body(
            field("network"), len(names), len(spec.nvec) if box else int(spec.nvec.sum()), where
        )
        base = body.get("base")
        return cls(
            spec,
            network,
            names,
            activation=activation,
            decision=decision,
            observe_every=observe_every,
            box=box,
            base=None if base is None else policy_from_dict(base, image_spec, f"{where}.base"),
            synthetic=body.get("synthetic"),
            image_spec=image_spec,
        )

    def describe(self, indent: str = "") -> str:
        sizes = [m.out_features for m in self.network if isinstance(m, nn.Linear)]
        return (
            f"{indent}Controller(features={len(self.feature_names)}, mlp={sizes}, decision={self.decision}, "
            f"every={self.observe_every} batches, now={self.spec.slots_of(self.action)})"
        )


register_kind("controller", Controller)


def _network_from_body(net: Any, inputs: int, outputs: int, where: str) -> tuple[nn.Sequential, str]:
    """The MLP a policy file's ``network`` describes (its activation and {weight, bias} layers), checked to be
    finite and to chain from ``inputs`` features to ``outputs`` action logits (or box values)."""
    net = as_object(net, f"{where}.network", allowed=("activation", "layers"))
    activation = as_choice(net.get("activation", "tanh"), f"{where}.network.activation", ACTIVATIONS, "activation")
    layers = net.get("layers")
    if not isinstance(layers, list) or not layers:
        raise PolicyConfigError(f"{where}.network.layers", "must be a non-empty list of {weight, bias}")
    try:
        weights = [torch.tensor(layer["weight"], dtype=torch.float32) for layer in layers]
        biases = [torch.tensor(layer["bias"], dtype=torch.float32) for layer in layers]
    except (KeyError, TypeError, ValueError) as err:
        raise PolicyConfigError(f"{where}.network.layers", f"malformed weights ({err})") from None
    if not all(bool(torch.isfinite(t).all()) for t in (*weights, *biases)):
        raise PolicyConfigError(f"{where}.network.layers", "holds a non-finite weight (NaN or infinity)")
    sizes = [inputs] + [w.shape[0] for w in weights]
    for i, (w, b) in enumerate(zip(weights, biases)):
        if w.ndim != 2 or w.shape[1] != sizes[i] or b.shape != (w.shape[0],):
            raise PolicyConfigError(
                f"{where}.network.layers[{i}]",
                f"weight {tuple(w.shape)} / bias {tuple(b.shape)} do not chain from {sizes[i]} inputs",
            )
    if sizes[-1] != outputs:
        raise PolicyConfigError(
            f"{where}.network.layers[{len(weights) - 1}]",
            f"has {sizes[-1]} outputs but the action spec needs {outputs}",
        )
    network = build_mlp(sizes, activation)
    with torch.no_grad():
        for m, w, b in zip([m for m in network if isinstance(m, nn.Linear)], weights, biases):
            m.weight.copy_(w)
            m.bias.copy_(b)
    return network, activation

"""Policies that learn inside the run: per-sample augmentation decided from the state of the one training that
uses it (issue 30). Two kinds, both for images and text alike (the op family follows the inputs: uint8 images get
image ops, a ``TokenBatch`` gets EDA's text ops; nothing else differs):

- ``entropy-adaptive`` (EntAugment-style, Yang et al. 2024, arXiv 2409.06290; the zero-cost foil): sample i's
  magnitude is ``magnitude_max * (1 - H_i)``, ``H_i`` the normalized entropy of the model's prediction on sample i
  when it was last trained on (taken from the training step's own logits: no extra pass). Unseen samples get no
  augmentation, so the first epoch is clean and confident samples are augmented hardest. One op per sample drawn
  uniformly from the op set.
- ``online-augnet``: the same per-sample magnitude rule, and a small actor network (AugNet's MLP) that learns
  during the run which op each sample gets, from the training state (progress, training accuracy, validation
  accuracy, generalization gap, learning-rate ratio: the last ``observe``) and the sample's own (its entropy when
  last trained on, whether it was seen). Its op set adds the geometric bases to RandAugment's ops (images:
  HorizontalFlip and PadCrop, which mean different things on different data: a flipped digit is another digit);
  Identity is left out (magnitude 0 is the way not to augment). It starts untrained in each run (or from
  ``weights`` learned earlier) and learns by REINFORCE while the model trains, with a per-sample reward: the
  first-order influence of the augmented sample on the validation loss, ``<grad_W L_val, grad_W l_i>`` over the
  weights ``W`` of the model's output layer (the last ``nn.Linear``). Training on sample i moves ``W`` by
  ``-lr * grad_W l_i``, which changes the validation loss by about ``-lr * <grad_W L_val, grad_W l_i>``. That
  one-step credit is myopic: any augmentation costs validation loss in the short run (a memorized clean sample
  has no gradient at all), so learned from it, the *amount* of augmentation collapses to none (attempt 1, in
  experiments/ab-online-mnist-small). It does rank *which* view of a sample is the more label-preserving at a
  given strength (a flipped digit against a sheared one), so the actor learns ops only, and the strength comes
  from the entropy rule: the advantage of a sample is its reward less a least-squares fit of the batch's rewards
  on the magnitudes, so a strong view is compared with other views of like strength. The samples of one batch
  are compared with each other (a paired comparison at one model state, which removes the drift of training from
  the credit). The per-sample output-layer gradients come for free from the training step's backward pass (a
  tensor hook); the validation gradient costs one forward pass over ``validation_size`` validation samples every
  ``validation_every`` batches.

Why by hand: AdaAugment's code and EntAugment's are training scripts for one model family, not policies; here the
same policy object drives any child (image or text, a classifier or a tagger) and any user loop through four calls
(``attach``, ``before_batch``, ``after_batch``, ``validate``), and files save and load it like every other policy.

The training loop's side of the contract (``ChildRun.train`` does it; a user's loop does the same, README):

    policy.attach(model)                      # once: hooks the model's output layer
    policy.reset(seed)                        # a new run
    per batch:  policy.before_batch(ids=sample_ids)            # optional: the samples' ids (their memory)
                x = policy(x, generator=g, progress=p)         # augment, per-sample decisions
                logits = model(x); loss.backward(); optimizer.step()
                policy.after_batch(ids=sample_ids, logits=logits.detach(), targets=y, mask=None)
                if policy.needs_validation():                  # the loss of a validation minibatch, with its graph
                    model.eval(); policy.validate(loss_fn(model(xv), yv)); model.train()
    per evaluation: policy.observe(features)  # training-state features (run.feature_dict())
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

from policy_search.ops import image as ops
from policy_search.ops import text as text_ops
from policy_search.policy.base import ImageSpec, Policy, TextParams, make_slot, register_kind
from policy_search.policy.file import PolicyConfigError, as_choice, as_int, as_number, as_object, join
from policy_search.policy.kinds import RANDAUGMENT_OPS, Schedule, SubPolicies
from policy_search.policy.text import TextSubPolicies

__all__ = [
    "IMAGE_OPS",
    "ONLINE_IMAGE_OPS",
    "TEXT_OPS",
    "EntropyAdaptive",
    "OnlineAugNet",
    "sample_stats",
]

# The op sets. Images: RandAugment's 14 ops (Identity among them); the learned op choice adds the geometric bases
# and drops Identity. Text: EDA's four ops.
IMAGE_OPS: tuple[str, ...] = RANDAUGMENT_OPS
ONLINE_IMAGE_OPS: tuple[str, ...] = ("HorizontalFlip", "PadCrop", *(n for n in RANDAUGMENT_OPS if n != "Identity"))
TEXT_OPS: tuple[str, ...] = ("SynonymReplacement", "RandomInsertion", "RandomSwap", "RandomDeletion")
# Global features the actor sees (from observe()), then the per-sample ones.
GLOBAL_FEATURES: tuple[str, ...] = ("progress", "train_acc_ema", "val_acc", "generalization_gap", "lr_ratio")
SAMPLE_FEATURES: tuple[str, ...] = ("entropy", "seen")
LOG_BUCKETS = 10  # choices are counted per tenth of training (the distilled schedule's phases come from them)
CREDITS = ("influence", "cosine")  # per-sample reward: <grad L_val, grad l_i>, or its cosine
LEVELS = 11  # magnitudes are counted on a grid of tenths of magnitude_max


def sample_stats(logits: Tensor, targets: Tensor, mask: Tensor | None = None) -> dict[str, Tensor]:
    """Per-sample loss, normalized prediction entropy (in [0, 1]) and accuracy from a batch's logits.

    ``logits`` ``[B, C]`` with ``targets`` ``[B]`` (classification), or ``[B, L, C]`` with ``[B, L]`` and ``mask``
    ``[B, L]`` of the scored positions (tagging: per-sequence means over the real tokens). Float32 ``[B]`` each."""
    logits = logits.detach().float()
    logp = torch.log_softmax(logits, -1)
    c = logits.shape[-1]
    entropy = -(logp.exp() * logp).sum(-1) / math.log(max(c, 2))
    loss = -logp.gather(-1, targets.long().clamp(0, c - 1).unsqueeze(-1)).squeeze(-1)
    correct = (logits.argmax(-1) == targets).float()
    if logits.ndim == 3:
        m = (mask if mask is not None else torch.ones_like(targets, dtype=torch.bool)).float()
        n = m.sum(1).clamp(min=1)
        entropy, loss, correct = ((t * m).sum(1) / n for t in (entropy, loss, correct))
    return {"loss": loss, "entropy": entropy, "correct": correct}


class _Memory:
    """Per-sample values by sample id (grown on demand), on CPU."""

    def __init__(self) -> None:
        self.values = torch.zeros(0)
        self.seen = torch.zeros(0, dtype=torch.bool)

    def _grow(self, top: int) -> None:
        if top >= self.seen.shape[0]:
            size = max(top + 1, 2 * self.seen.shape[0], 64)
            values, seen = torch.zeros(size), torch.zeros(size, dtype=torch.bool)
            values[: self.values.shape[0]] = self.values
            seen[: self.seen.shape[0]] = self.seen
            self.values, self.seen = values, seen

    def write(self, ids: Tensor, values: Tensor) -> None:
        ids = ids.detach().long().cpu()
        if ids.numel():
            self._grow(int(ids.max()))
            self.values[ids] = values.detach().float().cpu()
            self.seen[ids] = True

    def read(self, ids: Tensor, default: float) -> tuple[Tensor, Tensor]:
        """(values, seen) at ``ids``; unseen ids read ``default``."""
        ids = ids.detach().long().cpu()
        self._grow(int(ids.max()) if ids.numel() else 0)
        seen = self.seen[ids]
        return torch.where(seen, self.values[ids], torch.tensor(default)), seen


class _EntropyRule(Policy):
    """Shared: the batch hooks, the per-sample entropy memory and magnitude rule, params from per-sample (op,
    magnitude) choices, and the choice log (for the distilled schedule and op-usage plots). Subclasses pick ops."""

    observes_batches = True
    observes_training = True
    modality = None  # either: the op family follows the inputs (images or a TokenBatch)

    def __init__(
        self, magnitude_max: float = 0.9, text_magnitude_max: float = 0.6, *, image_spec: ImageSpec | None = None
    ) -> None:
        super().__init__(space="standard", image_spec=image_spec)
        self.magnitude_max = as_number(magnitude_max, "magnitude_max", 0.0, 1.0)
        self.text_magnitude_max = as_number(text_magnitude_max, "text_magnitude_max", 0.0, 1.0)
        self._text = False  # the modality of the last batch (sets the op family)
        self.reset()

    def _ops(self, text: bool) -> tuple[str, ...]:
        return TEXT_OPS if text else IMAGE_OPS

    def _mmax(self, text: bool) -> float:
        return self.text_magnitude_max if text else self.magnitude_max

    # --- the loop's hooks ----------------------------------------------------------------------------------------
    def reset(self, seed: int | None = None) -> None:
        self._ids: Tensor | None = None
        self._state = dict.fromkeys(GLOBAL_FEATURES, 0.0)
        self._log: dict[bool, Tensor] = {}
        self._recent: dict[str, float] | None = None
        self._memory = _Memory()
        self._last_mean = 1.0

    def before_batch(self, ids: Tensor | None = None) -> None:
        self._ids = None if ids is None else ids.detach().long().cpu()

    def after_batch(self, ids=None, logits=None, targets=None, mask=None) -> None:
        if logits is None or targets is None:
            raise ValueError(
                f"{self.kind} needs the batch's logits and targets: policy.after_batch(logits=..., targets=...)"
            )
        entropy = sample_stats(logits, targets, mask)["entropy"]
        self._last_mean = float(entropy.mean())
        if ids is not None and ids.shape[0] == entropy.shape[0]:
            self._memory.write(ids, entropy)

    def observe(self, features: Mapping[str, float]) -> None:
        for name in GLOBAL_FEATURES:
            if name in features:
                value = float(features[name])
                self._state[name] = value if math.isfinite(value) else 0.0

    # --- decisions -> params -----------------------------------------------------------------------------------
    def _entropy(self, batch_size: int) -> tuple[Tensor, Tensor]:
        """Each sample's entropy when last trained on, and whether it was seen; samples never seen (or a loop
        without ids) read the last batch's mean (1 at the start: no augmentation until the model predicts)."""
        ids = self._ids
        if ids is None or ids.shape[0] != batch_size:
            return torch.full((batch_size,), self._last_mean), torch.zeros(batch_size, dtype=torch.bool)
        return self._memory.read(ids, self._last_mean)

    def _choose_ops(self, entropy: Tensor, seen: Tensor, text: bool, g: torch.Generator) -> Tensor:
        """Per-sample op index into ``_ops(text)``."""
        return torch.randint(0, len(self._ops(text)), (entropy.shape[0],), generator=g, device=g.device).cpu()

    def sample_batch(self, batch_size: int, image_size: tuple[int, ...], g: torch.Generator, progress: float | None):
        text = len(image_size) == 1  # text kinds are sampled with (L,), images with (H, W)
        self._text = text
        if progress is not None:
            self._state["progress"] = float(progress)
        entropy, seen = self._entropy(batch_size)
        frac = (1.0 - entropy).clamp(0, 1)
        frac = torch.where(frac < 1e-3, torch.zeros_like(frac), frac)  # float noise of a uniform prediction: none
        op = self._choose_ops(entropy, seen, text, g)
        self._record(text, op, frac, progress)
        dev = g.device
        names = self._ops(text)
        magnitude = (frac * self._mmax(text)).to(dev)
        mask = (frac > 0).to(dev)
        if text:
            index = torch.tensor([text_ops.TEXT_OP_NAMES.index(n) for n in names], device=dev)[op.to(dev)]
            rate = magnitude * torch.tensor([text_ops.MAX_RATE[n] for n in names], device=dev)[op.to(dev)]
            seed = torch.randint(0, 2**62, (1,), generator=g, device=dev).cpu()
            return TextParams(index[None], rate.float()[None], seed, mask[None])
        index = torch.tensor([ops.OP_NAMES.index(n) for n in names], device=dev)[op.to(dev)]
        sign = torch.randint(0, 2, (batch_size,), generator=g, device=dev).float() * 2 - 1
        size = (int(image_size[0]), int(image_size[1]))
        return make_slot(index, magnitude, sign, mask, self.space, size, g)

    def _record(self, text: bool, op: Tensor, frac: Tensor, progress: float | None) -> None:
        """Count the batch's choices per tenth of training: ``[bucket, op, magnitude level]``."""
        names = self._ops(text)
        if text not in self._log:
            self._log[text] = torch.zeros(LOG_BUCKETS, len(names), LEVELS)
        bucket = min(int((progress or 0.0) * LOG_BUCKETS), LOG_BUCKETS - 1)
        level = (frac * (LEVELS - 1)).round().long().clamp(0, LEVELS - 1)
        counts = torch.bincount(op.long() * LEVELS + level, minlength=len(names) * LEVELS).float()
        counts = counts.view(len(names), LEVELS)
        self._log[text][bucket] += counts
        applied = counts[:, 1:].sum(1) / max(int(op.shape[0]), 1)  # level 0: not applied
        usage = {n: float(applied[i]) for i, n in enumerate(names) if n != "Identity"}
        if self._recent is None:
            self._recent = usage
        else:  # op use of the latest batches (what op_distribution reports), decayed per batch
            self._recent = {k: 0.9 * self._recent.get(k, 0.0) + 0.1 * usage.get(k, 0.0) for k in usage}

    def op_distribution(self, progress: float | None = None) -> dict[str, float]:
        """Op use of the latest batches (the policy adapts to training, not to ``progress``); before any batch,
        none (unseen samples are not augmented)."""
        return {k: v for k, v in (self._recent or {}).items() if v > 1e-6}

    def action_log(self, text: bool | None = None) -> Tensor | None:
        """Choice counts ``[tenth of training, op, magnitude level (tenths of the maximum)]`` of the run so far, for
        the modality it saw (``text`` picks one when both were seen)."""
        return self._log.get(self._text if text is None else text)

    def distill(self, phases: int = 5, rows: int = 20, text: bool | None = None) -> Schedule:
        """The run's choices as a schedule that needs nothing but the training progress: per phase (``phases``
        equal shares of training), ``rows`` sub-policies of one op each at its magnitude, duplicated in proportion
        to how often the run chose that (op, magnitude) in that phase (picking one uniformly per sample replays the
        run's empirical choice distribution; level 0, not augmented, is an Identity row)."""
        log = self.action_log(text)
        if log is None:
            raise ValueError("this policy has not augmented a batch yet: train with it first, then distill")
        text = self._text if text is None else text
        names = self._ops(text)
        buckets = torch.tensor_split(torch.arange(LOG_BUCKETS), phases)
        table: list[tuple[float, Policy]] = []
        for k, part in enumerate(buckets):
            counts = log[part].sum(0).flatten()  # [op * level]
            if float(counts.sum()) <= 0:  # a phase the run never reached: the previous phase's choices
                counts = log.sum(0).flatten()
            share = counts / counts.sum() * rows
            n = share.floor()
            left = int(rows - n.sum())
            if left > 0:
                n[torch.argsort(share - n, descending=True)[:left]] += 1
            entries: list[list[tuple[str, float, float]]] = []
            for flat in torch.nonzero(n).flatten().tolist():
                op, level = divmod(flat, LEVELS)
                m = level / (LEVELS - 1) * self._mmax(text)
                entry = ("Identity", 1.0, 0.0) if level == 0 else (names[op], 1.0, round(m, 4))
                entries += [[entry]] * int(n[flat])
            policy: Policy = TextSubPolicies(entries) if text else SubPolicies(entries)
            table.append((1.0 if k == len(buckets) - 1 else float(part[-1] + 1) / LOG_BUCKETS, policy))
        return Schedule(table, image_spec=self.image_spec)

    def body(self) -> dict[str, Any]:
        return {"magnitude_max": self.magnitude_max, "text_magnitude_max": self.text_magnitude_max}

    @classmethod
    def _fields(cls) -> tuple[str, ...]:
        return ("magnitude_max", "text_magnitude_max")

    @classmethod
    def from_body(cls, body: dict[str, Any], semantics: dict[str, Any], image_spec: ImageSpec, where: str) -> Policy:
        as_object(body, where, allowed=cls._fields())
        try:
            return cls(**body, image_spec=image_spec)
        except PolicyConfigError as exc:
            raise PolicyConfigError(join(where, exc.field), exc.reason) from None


class EntropyAdaptive(_EntropyRule):
    """EntAugment-style: per sample, one op of RandAugment's 14 (EDA's four on text) uniformly, at magnitude
    ``magnitude_max * (1 - H_i)``, ``H_i`` the normalized entropy of the model's prediction when sample i was last
    trained on (no extra forward pass)."""


class _Actor(nn.Module):
    """AugNet's MLP: per-sample features -> log-probabilities of the op choice."""

    def __init__(self, inputs: int, hidden: int, choices: int) -> None:
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(inputs, hidden), nn.Tanh())
        self.head = nn.Linear(hidden, choices)
        nn.init.zeros_(self.head.weight)  # a uniform start: every op equally likely until the run teaches otherwise
        nn.init.zeros_(self.head.bias)

    def forward(self, x: Tensor) -> Tensor:
        return torch.log_softmax(self.head(self.trunk(x)), -1)


class OnlineAugNet(_EntropyRule):
    """Per-sample op from a small actor that learns during the run; magnitude from the entropy rule (module
    docstring). ``hidden``: the actor's width. ``lr``: its Adam step. ``entropy_coef``: the entropy bonus that keeps
    it exploring. ``validation_every`` / ``validation_size``: how often and on how many validation samples the
    validation gradient is refreshed. ``learn``: False freezes the actor (a learned file replayed as it is).
    ``weights``: the actor's parameters per modality (``{"image": {name: nested lists}}``) learned in an earlier run;
    None starts untrained."""

    def __init__(
        self,
        magnitude_max: float = 0.9,
        text_magnitude_max: float = 0.6,
        *,
        hidden: int = 32,
        lr: float = 0.01,
        entropy_coef: float = 0.01,
        validation_every: int = 4,
        validation_size: int = 128,
        learn: bool = True,
        credit: str = "cosine",
        weights: Mapping[str, Any] | None = None,
        image_spec: ImageSpec | None = None,
    ) -> None:
        super().__init__(magnitude_max, text_magnitude_max, image_spec=image_spec)
        self.credit = as_choice(credit, "credit", CREDITS, "credit")
        self.hidden = as_int(hidden, "hidden", 1, 1024)
        self.lr = as_number(lr, "lr", 0.0, 10.0)
        self.entropy_coef = as_number(entropy_coef, "entropy_coef", 0.0, 10.0)
        self.validation_every = as_int(validation_every, "validation_every", 1, 1_000_000)
        self.validation_size = as_int(validation_size, "validation_size", 1, 1_000_000)
        if not isinstance(learn, bool):
            raise PolicyConfigError("learn", f"expected true or false, got {learn!r}")
        self.learn = learn
        self.weights = self._check_weights(weights)
        self._hook: Any = None
        self._hooked: nn.Module | None = None

    def _ops(self, text: bool) -> tuple[str, ...]:
        return TEXT_OPS if text else ONLINE_IMAGE_OPS

    # --- actor -------------------------------------------------------------------------------------------------
    def _new_actor(self, text: bool) -> _Actor:
        return _Actor(len(GLOBAL_FEATURES) + len(SAMPLE_FEATURES), self.hidden, len(self._ops(text)))

    def _check_weights(self, weights: Mapping[str, Any] | None) -> dict[str, dict[str, Tensor]] | None:
        if weights is None:
            return None
        obj = as_object(dict(weights), "weights", allowed=("image", "text"))
        out: dict[str, dict[str, Tensor]] = {}
        for modality, state in obj.items():
            template = self._new_actor(modality == "text").state_dict()
            state = as_object(state, join("weights", modality), allowed=tuple(template))
            loaded = {}
            for name, ref in template.items():
                where = join(join("weights", modality), name)
                if name not in state:
                    raise PolicyConfigError(where, "missing")
                try:
                    t = torch.as_tensor(state[name], dtype=torch.float32)
                except (TypeError, ValueError, RuntimeError):
                    raise PolicyConfigError(where, "expected a nested list of numbers") from None
                if t.shape != ref.shape or not bool(torch.isfinite(t).all()):
                    raise PolicyConfigError(where, f"expected finite numbers of shape {list(ref.shape)}")
                loaded[name] = t
            out[modality] = loaded
        return out

    def _actor(self, text: bool) -> _Actor:
        if text not in self._actors:
            state = torch.random.get_rng_state()
            torch.manual_seed(self._seed_value * 2 + int(text))  # the actor's init is the run's, not the global RNG's
            actor = self._new_actor(text)
            torch.random.set_rng_state(state)
            key = "text" if text else "image"
            if self.weights is not None and key in self.weights:
                actor.load_state_dict(self.weights[key])
            self._actors[text] = actor
            self._optims[text] = torch.optim.Adam(actor.parameters(), lr=self.lr)
        return self._actors[text]

    def learned(self) -> OnlineAugNet:
        """A copy that carries what this run's actors learned as its ``weights`` (to warm-start the next run)."""
        weights: dict[str, Any] = dict(self.weights or {})
        for text, actor in self._actors.items():
            weights["text" if text else "image"] = {k: v.detach().clone() for k, v in actor.state_dict().items()}
        body = {**self.body(), "weights": weights}
        return OnlineAugNet(**body, image_spec=self.image_spec)

    # --- hooks ---------------------------------------------------------------------------------------------------
    def reset(self, seed: int | None = None) -> None:
        super().reset(seed)
        self._seed_value = 0 if seed is None else int(seed)
        self._actors: dict[bool, _Actor] = {}
        self._optims: dict[bool, torch.optim.Optimizer] = {}
        self._pending: tuple[Tensor, Tensor, Tensor, bool] | None = None  # features, ops, magnitudes, modality
        self._grad: tuple[Tensor, Tensor] | None = None  # per-sample output-layer gradient and input (training)
        self._val_grad: Tensor | None = None  # gradient of the validation loss w.r.t. the output layer [out, in+1]
        self._captured: tuple[Tensor, Tensor] | None = None
        self._validating = False
        self._batches = 0
        self.trace: list[dict[str, float]] = []  # per update: progress, mean reward

    def attach(self, model: nn.Module) -> None:
        if self._hooked is model:
            return
        if self._hook is not None:
            self._hook.remove()
        linear = [m for m in model.modules() if isinstance(m, nn.Linear)]
        if not linear:
            raise ValueError(
                "online-augnet credits samples through the model's output layer and found no nn.Linear in "
                f"{type(model).__name__}; use entropy-adaptive, or give the model a linear output layer"
            )
        self._hook = linear[-1].register_forward_hook(self._on_forward)
        self._hooked = model

    def __getstate__(self) -> dict[str, Any]:
        state = super().__getstate__()
        state.update(_hook=None, _hooked=None, _captured=None, _grad=None)
        return state

    def _on_forward(self, module: nn.Module, inputs: tuple, output: Tensor) -> None:
        if not (torch.is_grad_enabled() and output.requires_grad):
            return  # evaluation under no_grad: nothing to credit
        h = inputs[0].detach()
        if getattr(module, "bias", None) is not None:
            h = torch.cat([h, torch.ones_like(h[..., :1])], -1)
        self._captured = (h, output)
        if not self._validating:

            def keep(grad: Tensor, h: Tensor = h) -> None:
                if not self._validating:
                    self._grad = (grad.detach(), h)

            output.register_hook(keep)

    def before_batch(self, ids: Tensor | None = None) -> None:
        super().before_batch(ids)
        self._grad = None

    def needs_validation(self) -> bool:
        return self.learn and (self._val_grad is None or self._batches % self.validation_every == 0)

    def validate(self, loss: Tensor) -> None:
        if self._captured is None:
            raise RuntimeError(
                "validate() needs the loss of a forward pass through the attached model, computed with grad enabled"
            )
        h, out = self._captured
        self._validating = True
        try:
            (grad,) = torch.autograd.grad(loss, out)
        finally:
            self._validating = False
            self._captured = None
        g2 = grad.detach().reshape(-1, grad.shape[-1]).float()
        self._val_grad = g2.T @ h.reshape(-1, h.shape[-1]).float()  # [out, in (+1)]

    def after_batch(self, ids=None, logits=None, targets=None, mask=None) -> None:
        super().after_batch(ids, logits, targets, mask)
        self._batches += 1
        pending, grads = self._pending, self._grad
        self._pending, self._grad, self._captured = None, None, None
        if not self.learn or pending is None or grads is None or self._val_grad is None:
            return
        features, op, magnitude, text = pending
        g, h = grads  # [B, ..., out], [B, ..., in (+1)]
        b = g.shape[0]
        if features.shape[0] != b:
            return
        gb = g.reshape(b, -1, g.shape[-1]).float()
        hb = h.reshape(b, -1, h.shape[-1]).float()
        val_grad = self._val_grad.to(gb.device)
        reward = torch.einsum("bto,oi,bti->b", gb, val_grad, hb).cpu()
        if self.credit == "cosine":  # the direction of the sample's output-layer gradient only, not its size
            norms = torch.einsum("bto,bso,bti,bsi->b", gb, gb, hb, hb).clamp(min=0).sqrt().cpu()
            scale = norms * val_grad.norm().cpu()
            reward = torch.where(scale > 1e-12, reward / scale.clamp(min=1e-12), torch.zeros_like(reward))
        # Compare views of like strength: the residual of a least-squares fit of the rewards on [1, magnitude].
        design = torch.stack([torch.ones(b), magnitude], 1)
        coef = torch.linalg.lstsq(design, reward[:, None]).solution
        residual = reward - (design @ coef).squeeze(1)
        spread = residual.std()
        if not bool(torch.isfinite(spread)) or float(spread) <= 0:
            return
        advantage = residual / spread
        actor = self._actor(text)
        logp = actor(features)
        chosen = logp.gather(1, op[:, None]).squeeze(1)
        entropy = -(logp.exp() * logp).sum(1).mean()
        loss = -(advantage * chosen).mean() - self.entropy_coef * entropy
        optim = self._optims[text]
        optim.zero_grad(set_to_none=True)
        loss.backward()
        optim.step()
        self.trace.append({"progress": self._state["progress"], "reward": float(reward.mean())})

    # --- decisions -----------------------------------------------------------------------------------------------
    def _choose_ops(self, entropy: Tensor, seen: Tensor, text: bool, g: torch.Generator) -> Tensor:
        glob = torch.tensor([self._state[k] for k in GLOBAL_FEATURES], dtype=torch.float32)
        features = torch.cat([glob.expand(entropy.shape[0], -1), torch.stack([entropy, seen.float()], 1)], 1)
        with torch.no_grad():
            cdf = self._actor(text)(features).exp().cumsum(1)
        u = torch.rand(entropy.shape[0], generator=g, device=g.device).cpu()
        op = torch.searchsorted(cdf, (u * cdf[:, -1]).unsqueeze(1)).squeeze(1).clamp(max=cdf.shape[1] - 1)
        self._pending = (features, op, (1.0 - entropy).clamp(0, 1), text)
        return op

    # --- file ----------------------------------------------------------------------------------------------------
    @classmethod
    def _fields(cls) -> tuple[str, ...]:
        return (
            "magnitude_max", "text_magnitude_max", "hidden", "lr", "entropy_coef", "validation_every",
            "validation_size", "learn", "credit", "weights",
        )  # fmt: skip

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            **super().body(),
            "hidden": self.hidden,
            "lr": self.lr,
            "entropy_coef": self.entropy_coef,
            "validation_every": self.validation_every,
            "validation_size": self.validation_size,
            "learn": self.learn,
            "credit": self.credit,
            "weights": None,
        }
        if self.weights is not None:
            body["weights"] = {m: {k: v.tolist() for k, v in s.items()} for m, s in self.weights.items()}
        return body

    def describe(self, indent: str = "") -> str:
        body = {k: v for k, v in self.body().items() if k != "weights"}
        return f"{indent}OnlineAugNet({body!r}, warm_start={self.weights is not None})"


register_kind("entropy-adaptive", EntropyAdaptive)
register_kind("online-augnet", OnlineAugNet)

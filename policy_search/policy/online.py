"""Policies that learn inside the run: per-sample augmentation decided from the state of the one training that
uses it (issue 30). Two kinds, both for images and text alike (the op family follows the inputs: uint8 images get
image ops, a ``TokenBatch`` gets EDA's text ops; nothing else differs):

- ``entropy-adaptive`` (EntAugment-style, Yang et al. 2024, arXiv 2409.06290; the zero-cost foil): sample i's
  magnitude is ``magnitude_max * (1 - H_i)``, ``H_i`` the normalized entropy of the model's prediction on sample i
  when it was last trained on (taken from the training step's own logits: no extra pass). Samples not seen yet (or
  a loop that passes no ids) read the last batch's mean entropy, 1 at the start, so training starts clean and
  confident samples are augmented hardest. One op per sample drawn uniformly from the op set (images: RandAugment's
  14, Identity included; no flip or crop, which change what digits and letters mean).
- ``online-augnet``: per-sample ops at a per-op magnitude level it learns, and an op mix it learns, during the run
  (on text the entropy rule's magnitudes scaled by those levels; on images, by default, flat: see below). Levels (``magnitude_target``, 0.8; round 3 of experiments/ab-online): each op's magnitude level
  (a share of the maximum, from ``level_start`` 0.3) moves after each measurement of its affinity by
  ``level_lr * (affinity - magnitude_target)``: up while the model keeps more than 80% of its clean accuracy on
  validation samples with the op applied at its level, down while it keeps less. So ops the model has learned to
  ignore grow strong and ops that break labels stay mild (on text every EDA op climbs to its full rate; on digits
  translations stay near a third of their range, colour ops reach the top); a sample's magnitude is its op's level
  times the entropy rule's. ``ops_per_sample`` ops are drawn per sample, one after the other, as the searched
  policies (RandAugment N = 2-3 at low magnitudes) do. The image defaults are rounds 7-8's (experiments/ab-online: on
  `cifar10-small` +1.49 over round 3's design on 15 validation seeds, +0.21 over TPE-16's searched policy):
  ``entropy_magnitudes`` False (every sample at its op's level, not scaled by the entropy rule), ``magnitude_max``
  0.25 (a quarter of each op's range, the scale of that searched policy), three ops per sample, flip the only base
  (``bases``: cropping every image cost more than it gave), and ``magnitude_warmup`` 0.3 (round 8: the flat share
  ramps up over the first 30% of training; without it a few digit runs collapsed early, and CIFAR gained +0.64), and
  ``base_spread`` 3 (rounds 11-13: flip is measured only while no class takes over 30% of the model's predictions on
  the clean validation minibatch; judged by a model that names one class, a flip kept its accuracy by chance and
  locked itself in, in 8 of 135 digit runs of rounds 11-13; with it in none). Text keeps round 3's design, the one its final
  measured (``text_entropy_magnitudes`` True, ``text_ops_per_sample`` 2): round 7 measured images only. Round 3's
  design on images is ``magnitude_max=0.9, entropy_magnitudes=True, ops_per_sample=2, bases=None, base_spread=None``;
  ``magnitude_target=None, ops_per_sample=1`` on top of it is round 2's (the entropy rule's magnitudes, one op).
  Default credit
  ``affinity`` (Gontijo-Lopes et al. 2020, "Affinity and Diversity"): every ``validation_every`` batches it takes
  ``validation_size`` validation samples, scores the model on them clean and with each of the next
  ``ops_per_validation`` ops applied to all of them (round robin; images: the bases it may use, HorizontalFlip and
  PadCrop, first, then RandAugment's ops; text: EDA's four), at the magnitude the run applies now, and keeps each op's affinity
  (augmented accuracy / clean accuracy, averaged over its measurements). An op's gate rises linearly from 0 at its
  floor to 1 at affinity 1: the bases (flip on up to half the samples; 4-px crop on up to all where ``bases`` allows it) use a
  strict floor (``affinity_floor``, 0.9), since they are applied at full strength to many samples; the ops (at their
  levels) are drawn in proportion to their gates with a lenient floor (``op_affinity_floor``,
  0.5), since diversity is what they are for. So flips are used on CIFAR (affinity ~1.0) and never on digits
  (~0.3-0.6), and translations strong enough to push a digit out of the frame drop out. No base is used before it is
  measured; until some op is measured the ops are drawn uniformly (at the entropy rule's magnitude that is nothing,
  the model being unsure; with flat magnitudes it is the starting level, 0.3 of the cap: ``magnitude_warmup`` /
  ``batch_confidence`` hold that back), and nothing is measured before the model is learning (twice chance on the clean minibatch, or a quarter
  of the way from chance to all correct where that is lower: 62.5% for two classes).
  Earlier designs, kept as ``credit`` options and measured in experiments/ab-online: a small actor network
  (AugNet's MLP) picks each sample's op by REINFORCE on a per-sample reward from the training step's own backward
  pass: ``influence``, the first-order effect of the augmented sample on the validation loss, ``<grad_W L_val,
  grad_W l_i>`` over the weights ``W`` of the model's output layer (the last ``nn.Linear``, caught by hooks), or
  ``cosine``, its cosine. That one-step credit is right (checked against the real change of the validation loss)
  but myopic: any augmentation costs validation loss in the next step, so learned from it the actor drifts to
  whatever the noise favors, flips on digits included.

Why by hand: AdaAugment's code and EntAugment's are training scripts for one model family, not policies; here the
same policy object drives any child (image or text, a classifier or a tagger) and any user loop through four calls
(``attach``, ``before_batch``, ``after_batch``, ``validate_batch``), and files save and load it like every other policy.

The training loop's side of the contract (``ChildRun.train`` does it; a user's loop does the same, README):

    policy.attach(model)                      # once: hooks the model's output layer
    policy.reset(seed)                        # a new run
    per batch:  policy.before_batch(ids=sample_ids)            # optional: the samples' ids (their memory)
                x = policy(x, generator=g, progress=p)         # augment, per-sample decisions
                logits = model(x); loss.backward(); optimizer.step()
                policy.after_batch(ids=sample_ids, logits=logits.detach(), targets=y, mask=None)
                if policy.needs_validation():                  # a validation minibatch and how to run the model
                    model.eval(); policy.validate_batch(lambda x: model(x), xv, yv); model.train()
    per evaluation: policy.observe(features)  # training-state features (run.feature_dict())
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

from policy_search.policy.base import ImageSpec, Policy, register_kind
from policy_search.policy.file import (
    PolicyConfigError,
    as_bool,
    as_choice,
    as_int,
    as_list,
    as_number,
    as_object,
    join,
)
from policy_search.policy.kinds import Schedule, Sequence
from policy_search.policy.modality import IMAGE, MODALITIES, Modality, get_modality, modality_of, modality_of_size
from policy_search.policy.text import TextSubPolicies  # noqa: F401 - registers the text kinds the protocol builds

__all__ = [
    "IMAGE_OPS",
    "ONLINE_IMAGE_OPS",
    "TEXT_OPS",
    "EntropyAdaptive",
    "OnlineAugNet",
    "sample_stats",
]

# The op sets come from the modality protocol (``Modality.online_ops`` and ``.bases``). Images: RandAugment's 14
# ops (Identity among them); the learned op choice adds the geometric bases and drops Identity. Text: EDA's four.
IMAGE_OPS: tuple[str, ...] = IMAGE.online_ops
ONLINE_IMAGE_OPS: tuple[str, ...] = (*IMAGE.bases, *(n for n in IMAGE.online_ops if n != "Identity"))
TEXT_OPS: tuple[str, ...] = MODALITIES["text"].online_ops
# Global features the actor sees (from observe()), then the per-sample ones.
GLOBAL_FEATURES: tuple[str, ...] = ("progress", "train_acc_ema", "val_acc", "generalization_gap", "lr_ratio")
SAMPLE_FEATURES: tuple[str, ...] = ("entropy", "seen")
LOG_BUCKETS = 10  # choices are counted per tenth of training (the distilled schedule's phases come from them)
# Per-sample reward: "affinity" (the chosen op's label preservation, measured on validation as the model trains),
# "cosine" (cosine of the sample's output-layer gradient with the validation loss's) or "influence" (their dot).
CREDITS = ("affinity", "cosine", "influence")
# How a base (flip, crop) follows its affinity a: "linear", its rate rising from 0 at ``affinity_floor`` to its
# full rate at a = 1; "step", its full rate at a >= ``affinity_floor``, none below (round 4 of experiments/ab-online)
BASE_GATES = ("linear", "step")
# What a tagger's affinity is scored on: "tokens", every real token (the majority tag, a tagger's O, dominates it, so a
# label-preserving op's affinity sits at about 1); "entities", the tokens whose gold or predicted tag is not the
# majority one (a tagger's entity tokens, pooled over the minibatch: what the entity F1 it is scored by reads).
TAG_AFFINITIES = ("tokens", "entities")
IMAGE_BASES: tuple[str, ...] = IMAGE.bases  # per-sample bases, gated by affinity
_MODALITY_INDEX = {name: i for i, name in enumerate(MODALITIES)}  # seeds each modality's actor apart
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


def _unpack(out: Any, labels: Tensor) -> tuple[Tensor, Tensor, Tensor | None]:
    """``predict``'s result as (logits, targets, mask): logits alone score against ``labels``."""
    if isinstance(out, tuple):
        logits, targets, mask = out
        return logits, targets, mask
    return out, labels, None


MIN_TAKEOVER = 8  # a class named for at most this many samples of a validation minibatch has not taken it over


def _spread(logits: Tensor, targets: Tensor, mask: Tensor | None) -> tuple[float, float]:
    """(top, floor): the share of the (scored) predictions that go to the most predicted class (1 for a model that
    names one class for everything: its accuracy on any view that keeps that class is unchanged, affinity 1 by
    chance), and the share below which no check calls that a takeover: the labels' own top share (a tagger's O, a
    skewed dataset) or ``MIN_TAKEOVER`` samples (many classes in a small minibatch), whichever is higher."""
    pred, labels = logits.argmax(-1), targets
    if mask is not None and pred.ndim > 1:
        pred, labels = pred[mask.bool()], targets[mask.bool()]
    pred, labels = pred.reshape(-1), labels.reshape(-1).long()
    if pred.numel() == 0:
        return 0.0, 1.0
    c = int(logits.shape[-1])
    top = float(torch.bincount(pred, minlength=c).max()) / pred.numel()
    label_top = float(torch.bincount(labels.clamp(0, c - 1), minlength=c).max()) / labels.numel()
    return top, max(label_top, MIN_TAKEOVER / pred.numel())


def _taken_over(top: float, floor: float, k: float | None, chance: float) -> bool:
    """Whether one class takes more than k / classes of the predictions (and more than ``floor``); never with k None."""
    return k is not None and top > max(k * chance, floor)


def _mean_loss(logits: Tensor, targets: Tensor, mask: Tensor | None) -> Tensor:
    if mask is not None:
        logits, targets = logits[mask], targets[mask]
    return torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))


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
        self,
        magnitude_max: float = 0.9,
        text_magnitude_max: float = 0.6,
        *,
        ops: Any = None,
        image_spec: ImageSpec | None = None,
    ) -> None:
        super().__init__(space="standard", image_spec=image_spec)
        self.magnitude_max = as_number(magnitude_max, "magnitude_max", 0.0, 1.0)
        self.text_magnitude_max = as_number(text_magnitude_max, "text_magnitude_max", 0.0, 1.0)
        self.ops: tuple[str, ...] | None = _check_ops(ops)
        self._modality: Modality = IMAGE  # the modality of the last batch (sets the op family)
        self.reset()

    def _ops(self, m: Modality) -> tuple[str, ...]:
        """The ops drawn from on ``m``: the file's ``ops`` where it names them (all of ``m``'s, or a one-line
        error), else the modality's own (``Modality.online_ops``)."""
        if self.ops is None:
            return m.online_ops
        if any(o not in m.op_names for o in self.ops):
            raise ValueError(
                f"{self.kind}'s ops {list(self.ops)} are not all {m.name} ops, but its inputs are {m.name}: "
                "give ops of the task's modality (or none for its own)"
            )
        return self.ops

    def _mmax(self, m: Modality) -> float:
        """The file's magnitude cap for ``m`` (its fields: magnitude_max for images, text_magnitude_max)."""
        return _per_modality(m, self.magnitude_max, self.text_magnitude_max)

    def _seen(self, modality: str | None) -> Modality:
        return self._modality if modality is None else get_modality(modality)

    def display_ops(self, modality: str | None = None) -> tuple[str, ...]:
        """Every op this policy may apply on the modality it saw (``modality`` names one): the bases, then the ops
        (for schedule tables and heatmaps)."""
        m = self._seen(modality)
        return (*self._bases(m), *self._ops(m))

    def _bases(self, m: Modality) -> tuple[str, ...]:
        """Ops applied before the per-sample op, each with its own probability (none here)."""
        return ()

    # --- the loop's hooks ----------------------------------------------------------------------------------------
    def reset(self, seed: int | None = None) -> None:
        self._ids: Tensor | None = None
        self._state = dict.fromkeys(GLOBAL_FEATURES, 0.0)
        self._log: dict[str, Tensor] = {}
        self._recent: dict[str, float] | None = None
        self._base_log: dict[str, Tensor] = {}  # image bases applied per tenth of training
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

    def _choose_ops(self, entropy: Tensor, seen: Tensor, m: Modality, g: torch.Generator) -> Tensor:
        """Per-sample op index into ``_ops(m)``."""
        return torch.randint(0, len(self._ops(m)), (entropy.shape[0],), generator=g, device=g.device).cpu()

    def sample_batch(self, batch_size: int, image_size: tuple[int, ...], g: torch.Generator, progress: float | None):
        modality = modality_of_size(image_size)
        self._modality = modality
        if progress is not None:
            self._state["progress"] = float(progress)
        entropy, seen = self._entropy(batch_size)
        base_frac = self._magnitude_share(entropy, modality)
        dev = g.device
        names = self._ops(modality)
        chosen, usage = [], {}
        for _ in range(self._per_sample(modality)):
            op = self._choose_ops(entropy, seen, modality, g)
            frac = base_frac * self._op_scale(op, modality)
            drawn = self._record(modality, op, frac, progress)
            usage = {k: usage.get(k, 0.0) + v for k, v in drawn.items()}  # a sample's N draws add up
            signed = modality.signed
            sign = torch.randint(0, 2, (batch_size,), generator=g, device=dev).float() * 2 - 1 if signed else None
            chosen.append((op, frac, sign))
        self._use(usage)
        slots = []
        for name, p in self._base_probabilities().items():  # flip / crop before the op, each with its probability
            use = (
                (torch.rand(batch_size, generator=g, device=dev) < p)
                if p > 0
                else torch.zeros(batch_size, dtype=torch.bool, device=dev)
            )
            full = torch.ones(batch_size, device=dev)
            base_index = torch.full((batch_size,), modality.op_names.index(name), device=dev)
            slots.append(modality.slot(base_index, full, use, g, space=self.space, size=image_size, sign=full))
            self._count_base(name, float(use.float().mean()))
            bucket = min(int((progress or 0.0) * LOG_BUCKETS), LOG_BUCKETS - 1)
            self._base_log.setdefault(name, torch.zeros(LOG_BUCKETS))[bucket] += float(use.sum())
        table = torch.tensor([modality.op_names.index(n) for n in names], device=dev)
        for op, frac, sign in chosen:
            magnitude = (frac * self._mmax(modality)).to(dev)
            slots.append(
                modality.slot(
                    table[op.to(dev)], magnitude, (frac > 0).to(dev), g, space=self.space, size=image_size, sign=sign
                )
            )
        return modality.cat(slots, batch_size, g)

    def _per_sample(self, m: Modality) -> int:
        """Ops applied to each sample of modality ``m``, one after another (each drawn on its own)."""
        return 1

    def _magnitude_share(self, entropy: Tensor, m: Modality) -> Tensor:
        """The entropy rule: each sample's share of the maximum magnitude, 1 - its normalized entropy (0 for a
        uniform prediction); the same on every modality here."""
        share = (1.0 - entropy).clamp(0, 1)
        return torch.where(share < 1e-3, torch.zeros_like(share), share)

    def _op_scale(self, op: Tensor, m: Modality) -> Tensor:
        """Per-sample multiplier of the entropy rule's magnitude for the chosen ops (1 here)."""
        return torch.ones(op.shape[0])

    def _base_probabilities(self) -> dict[str, float]:
        """Per-sample probability of each image base applied before the op (none here)."""
        return {}

    def _count_base(self, name: str, share: float) -> None:
        if self._recent is not None:
            self._recent[name] = 0.9 * self._recent.get(name, share) + 0.1 * share

    def _record(self, m: Modality, op: Tensor, frac: Tensor, progress: float | None) -> dict[str, float]:
        """Count one draw of the batch's choices per tenth of training (``[bucket, op, magnitude level]``); returns
        each op's use in it (the share of samples it was applied to)."""
        names = self._ops(m)
        if m.name not in self._log:
            self._log[m.name] = torch.zeros(LOG_BUCKETS, len(names), LEVELS)
        bucket = min(int((progress or 0.0) * LOG_BUCKETS), LOG_BUCKETS - 1)
        level = (frac * (LEVELS - 1)).round().long().clamp(0, LEVELS - 1)
        counts = torch.bincount(op.long() * LEVELS + level, minlength=len(names) * LEVELS).float()
        counts = counts.view(len(names), LEVELS)
        self._log[m.name][bucket] += counts
        applied = counts[:, 1:].sum(1) / max(int(op.shape[0]), 1)  # level 0: not applied
        return {n: float(applied[i]) for i, n in enumerate(names) if n != "Identity"}

    def _use(self, usage: dict[str, float]) -> None:
        """A batch's op use (summed over its draws per sample: with N ops per sample, up to N), into the decayed
        use of the latest batches that op_distribution and expected_cost report."""
        if self._recent is None:
            self._recent = usage
        else:
            self._recent = {**self._recent, **{k: 0.9 * self._recent.get(k, 0.0) + 0.1 * usage[k] for k in usage}}

    def op_distribution(self, progress: float | None = None) -> dict[str, float]:
        """Op use of the latest batches (the policy adapts to training, not to ``progress``); before any batch,
        none (unseen samples are not augmented)."""
        return {k: v for k, v in (self._recent or {}).items() if v > 1e-6}

    def action_log(self, modality: str | None = None) -> Tensor | None:
        """Choice counts ``[tenth of training, op, magnitude level (tenths of the maximum)]`` of the run so far, for
        the modality it saw (``modality`` names one when both were seen)."""
        return self._log.get(self._seen(modality).name)

    def distill(self, phases: int = 5, rows: int = 20, modality: str | None = None) -> Schedule:
        """The run's choices as a schedule that needs nothing but the training progress: per phase (``phases``
        equal shares of training), ``rows`` sub-policies of one op each at its magnitude, duplicated in proportion
        to how often the run chose that (op, magnitude) in that phase (picking one uniformly per sample replays the
        run's empirical choice distribution; level 0, not augmented, is an Identity row), drawn as many times per
        sample as the run drew ops."""
        log = self.action_log(modality)
        if log is None:
            raise ValueError("this policy has not augmented a batch yet: train with it first, then distill")
        m = self._seen(modality)
        names = self._ops(m)
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
                mag = level / (LEVELS - 1) * self._mmax(m)
                entry = ("Identity", 1.0, 0.0) if level == 0 else (names[op], 1.0, round(mag, 4))
                entries += [[entry]] * int(n[flat])
            policy: Policy = m.kinds["subpolicies"](entries)
            if self._per_sample(m) > 1:  # the run drew that many ops per sample, each from the same mix
                policy = Sequence([policy] * self._per_sample(m))
            samples = float(log[part].sum()) / self._per_sample(m)  # samples, not draws: bases count once each
            bases = [
                m.kinds["subpolicies"]([[(name, round(float(self._base_log[name][part].sum()) / samples, 4), 1.0)]])
                for name in self._bases(m)
                if name in self._base_log and samples > 0 and float(self._base_log[name][part].sum()) > 0
            ]
            if bases:  # flip / crop with the share of samples the run gave them in this phase, then the op
                policy = Sequence([*bases, policy])
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
    trained on (no extra forward pass). ``ops``: the ops drawn from, uniformly (default the modality's: RandAugment's
    14 or EDA's four; they name ops of the inputs' modality); ``ops_per_sample``: drawn one after another per sample
    (RandAugment's N). Inside a Sequence (a flip before it) or a Schedule its batch hooks reach it through the
    container."""

    def __init__(
        self,
        magnitude_max: float = 0.9,
        text_magnitude_max: float = 0.6,
        *,
        ops: Any = None,
        ops_per_sample: int = 1,
        image_spec: ImageSpec | None = None,
    ) -> None:
        super().__init__(magnitude_max, text_magnitude_max, ops=ops, image_spec=image_spec)
        self.ops_per_sample = as_int(ops_per_sample, "ops_per_sample", 1, 16)

    def _per_sample(self, m: Modality) -> int:
        return self.ops_per_sample

    def body(self) -> dict[str, Any]:
        out = super().body()  # the fields beyond the caps only where set, so files written before them read the same
        if self.ops is not None:
            out["ops"] = list(self.ops)
        if self.ops_per_sample != 1:
            out["ops_per_sample"] = self.ops_per_sample
        return out

    @classmethod
    def _fields(cls) -> tuple[str, ...]:
        return ("magnitude_max", "text_magnitude_max", "ops", "ops_per_sample")


def _check_ops(ops: Any) -> tuple[str, ...] | None:
    """A file's ``ops``: null (the modality's own), or a non-empty list of known op names of one modality."""
    if ops is None:
        return None
    known = sorted({name for m in MODALITIES.values() for name in m.op_names})
    listed = as_list(ops, "ops")
    if not listed:
        raise PolicyConfigError("ops", "needs at least one op (or null for the modality's own)")
    names = tuple(as_choice(o, f"ops[{i}]", known, "op") for i, o in enumerate(listed))
    if not any(set(names) <= set(m.op_names) for m in MODALITIES.values()):
        raise PolicyConfigError("ops", f"mixes image and text ops ({list(names)}); name the ops of one modality")
    return names


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


def _per_modality(m: Modality, image: Any, text: Any) -> Any:
    """A setting that a file gives per modality (``magnitude_max`` / ``text_magnitude_max`` and the like)."""
    return {"image": image, "text": text}[m.name]


_ALL_BASES: frozenset[str] = frozenset(n for m in MODALITIES.values() for n in m.bases)
FLIP_ONLY: tuple[str, ...] = ("HorizontalFlip",)  # OnlineAugNet's default bases (round 7 of experiments/ab-online)
_DEFAULT_BASES: Any = object()  # bases not given: flip only with credit 'affinity', none with an actor


class OnlineAugNet(_EntropyRule):
    """Per-sample ops drawn by their learned affinity (credit ``affinity``, the default) or from a small actor
    (``cosine``, ``influence``); magnitude: each op's learned level times the entropy rule's share (text) or flat
    (images, by default) (module docstring; levels need credit ``affinity`` and are ignored with the others). ``ops``:
    the ops it draws, measures and levels (default the modality's own: RandAugment's 14 or EDA's four; a tagger may
    name Dai & Adel's, which the default leaves out). With an actor credit, flip and crop are among its choices only
    where ``ops`` names them. ``tag_affinity`` (``TAG_AFFINITIES``): on a tagger, affinity scored by the accuracy on every
    token (the default), which a label-preserving tagging op barely moves (about 1 on a tiny tagger), so those ops'
    levels can climb to the top; or on the entity tokens only (classifiers ignore it). ``hidden``: the actor's width. ``lr``: its Adam step. ``entropy_coef``: the entropy bonus that keeps
    it exploring. ``validation_every`` / ``validation_size``: how often and on how many validation samples the
    validation gradient is refreshed. ``learn``: False freezes the actor (a learned file replayed as it is).
    ``base_gate`` / ``bases``: how flip and crop follow their affinity (``BASE_GATES``) and which of them the policy may
    use (default: flip only; None: all; credit ``affinity`` only, and no bases with an actor). ``entropy_magnitudes`` / ``text_entropy_magnitudes``: False puts every
    image / text sample at its op's level instead of the level times the entropy rule's share. ``ops_per_sample`` /
    ``text_ops_per_sample``: ops drawn per image / text sample. Where magnitudes are flat, ``magnitude_warmup`` (a
    share of training) ramps them up from 0 and ``batch_confidence`` scales them by 1 - the mean normalized entropy of
    the last batch trained on (a weak model is augmented little); both are ignored where the entropy rule sets the
    magnitudes, and the warm-up needs the loop to pass ``progress``. ``magnitude_floor``: with the entropy rule, each sample's share is
    at least this (ramped as above). ``base_start``: bases are measured (so can be used) only from this share of
    training on. ``base_spread`` k: only while no class takes more than k / classes of the model's predictions on the
    clean validation minibatch (an early model that names one class for most digits keeps its accuracy under a flip
    by chance, and a flip judged then locks itself in; None: no such check). ``measure_spread`` k: the same for every
    measurement, ops and levels too (a model that collapsed to one class keeps its accuracy under any op, and the
    levels then climb to the top: round 12). ``collapse_pause`` (with ``measure_spread``): while that check fails,
    no augmentation either (magnitudes and bases at 0) until a clean minibatch shows a model that works (round 13). ``weights``: the actor's parameters per modality (``{"image": {name: nested lists}}``) learned in an earlier run;
    None starts untrained."""

    def __init__(
        self,
        magnitude_max: float = 0.25,
        text_magnitude_max: float = 0.6,
        *,
        hidden: int = 32,
        lr: float = 0.01,
        entropy_coef: float = 0.01,
        validation_every: int = 8,
        validation_size: int = 64,
        learn: bool = True,
        credit: str = "affinity",
        affinity_floor: float = 0.9,
        op_affinity_floor: float = 0.5,
        base_gate: str = "linear",
        bases: Any = _DEFAULT_BASES,
        entropy_magnitudes: bool = False,
        text_entropy_magnitudes: bool = True,
        magnitude_warmup: float = 0.3,
        batch_confidence: bool = False,
        magnitude_floor: float = 0.0,
        base_start: float = 0.0,
        base_spread: float | None = 3.0,
        measure_spread: float | None = None,
        collapse_pause: bool = False,
        ops_per_validation: int = 4,
        magnitude_target: float | None = 0.8,
        level_start: float = 0.3,
        level_lr: float = 1.0,
        ops_per_sample: int = 3,
        text_ops_per_sample: int = 2,
        ops: Any = None,
        tag_affinity: str = "tokens",
        affinity: Mapping[str, Any] | None = None,
        levels: Mapping[str, Any] | None = None,
        weights: Mapping[str, Any] | None = None,
        image_spec: ImageSpec | None = None,
    ) -> None:
        super().__init__(magnitude_max, text_magnitude_max, ops=ops, image_spec=image_spec)
        self.credit = as_choice(credit, "credit", CREDITS, "credit")
        self.tag_affinity = as_choice(tag_affinity, "tag_affinity", TAG_AFFINITIES, "tag affinity")
        if self.ops is not None and all(
            o == "Identity" or (credit == "affinity" and o in _ALL_BASES) for o in self.ops
        ):
            raise PolicyConfigError(
                "ops", "names no op to draw per sample (Identity is no choice; flip and crop are bases, set by bases)"
            )
        self.affinity_floor = as_number(affinity_floor, "affinity_floor", 0.0, 0.999)
        self.op_affinity_floor = as_number(op_affinity_floor, "op_affinity_floor", 0.0, 0.999)
        self.base_gate = as_choice(base_gate, "base_gate", BASE_GATES, "base gate")
        if bases is _DEFAULT_BASES:  # with an actor there are no bases (naming one is refused below)
            bases = FLIP_ONLY if credit == "affinity" else None
        self.bases = self._check_bases(bases)
        self.entropy_magnitudes = as_bool(entropy_magnitudes, "entropy_magnitudes")
        self.text_entropy_magnitudes = as_bool(text_entropy_magnitudes, "text_entropy_magnitudes")
        self.magnitude_warmup = as_number(magnitude_warmup, "magnitude_warmup", 0.0, 1.0)
        self.batch_confidence = as_bool(batch_confidence, "batch_confidence")
        self.magnitude_floor = as_number(magnitude_floor, "magnitude_floor", 0.0, 1.0)
        self.base_start = as_number(base_start, "base_start", 0.0, 1.0)
        self.base_spread = None if base_spread is None else as_number(base_spread, "base_spread", 1.0, 1000.0)
        spread = measure_spread
        self.measure_spread = None if spread is None else as_number(spread, "measure_spread", 1.0, 1000.0)
        self.collapse_pause = as_bool(collapse_pause, "collapse_pause")
        if self.collapse_pause and self.measure_spread is None:
            raise PolicyConfigError("collapse_pause", "needs measure_spread (the check that says the model collapsed)")
        if self.credit != "affinity" and self.tag_affinity != "tokens":
            raise PolicyConfigError("tag_affinity", "applies to credit 'affinity' only (it scores the affinity)")
        if self.credit != "affinity" and self.measure_spread is not None:
            raise PolicyConfigError("measure_spread", "applies to credit 'affinity' only (it gates its measurements)")
        if self.credit != "affinity" and (self.bases is not None or self.base_gate != "linear"):
            field = "bases" if self.bases is not None else "base_gate"
            raise PolicyConfigError(
                field, "applies to credit 'affinity' only (with an actor, flip and crop are its ops)"
            )
        self.ops_per_validation = as_int(ops_per_validation, "ops_per_validation", 1, 64)
        self.magnitude_target = (
            None if magnitude_target is None else as_number(magnitude_target, "magnitude_target", 0.0, 1.0)
        )
        self.level_start = as_number(level_start, "level_start", 0.0, 1.0)
        self.level_lr = as_number(level_lr, "level_lr", 0.0, 100.0)
        self.ops_per_sample = as_int(ops_per_sample, "ops_per_sample", 1, 8)
        self.text_ops_per_sample = as_int(text_ops_per_sample, "text_ops_per_sample", 1, 8)
        self.hidden = as_int(hidden, "hidden", 1, 1024)
        self.lr = as_number(lr, "lr", 0.0, 10.0)
        self.entropy_coef = as_number(entropy_coef, "entropy_coef", 0.0, 10.0)
        self.validation_every = as_int(validation_every, "validation_every", 1, 1_000_000)
        self.validation_size = as_int(validation_size, "validation_size", 1, 1_000_000)
        self.learn = as_bool(learn, "learn")
        self.weights = self._check_weights(weights)
        self.affinity = self._check_affinity(affinity)
        self.levels = self._check_affinity(levels, "levels", 1.0)
        self._hook: Any = None
        self._hooked: nn.Module | None = None

    def _ops(self, m: Modality) -> tuple[str, ...]:
        own = super()._ops(m)  # the file's ops or the modality's
        bases = m.bases if self.ops is None else tuple(b for b in m.bases if b in self.ops)  # an actor's: named only
        learned = (*bases, *(n for n in own if n != "Identity" and n not in m.bases))  # none is no choice
        if self.credit == "affinity":  # flip and crop are bases, gated by their own affinity
            return tuple(n for n in learned if n not in m.bases)
        return learned

    def _bases(self, m: Modality) -> tuple[str, ...]:
        if self.credit != "affinity":
            return ()
        return m.bases if self.bases is None else tuple(n for n in m.bases if n in self.bases)

    @staticmethod
    def _check_bases(bases: Any) -> tuple[str, ...] | None:
        """None (every base of the modality: images flip and crop) or a list of the bases the policy may use."""
        if bases is None:
            return None
        known = tuple(dict.fromkeys(n for m in MODALITIES.values() for n in m.bases))
        names = as_list(bases, "bases")
        unknown = [n for n in names if not isinstance(n, str) or n not in known]
        if unknown:
            raise PolicyConfigError("bases", f"unknown base op {unknown[0]!r}; choose from {list(known)} (or null)")
        return tuple(dict.fromkeys(names))

    def _measured(self, m: Modality, bases: bool = True) -> tuple[str, ...]:
        """Ops whose affinity is measured: the bases first (from ``base_start`` of training on: a weak model's
        affinity for a flip is close to 1 by chance; not where ``bases`` is False: ``base_spread``'s check failed on
        the clean minibatch), then the per-sample ops."""
        bases = bases and self._state["progress"] >= self.base_start
        return (*(self._bases(m) if bases else ()), *self._ops(m))

    def _warm(self, m: Modality) -> None:
        """Start from the affinities a file carries for this modality (once per run)."""
        key = m.name
        start = self._affinity_start.pop(key, None)
        if start and not self._affinity:
            self._affinity = dict(start)
        start = self._level_start.pop(key, None)
        if start and not self._level:
            self._level = dict(start)

    def _gate(self, affinity: float | None, floor: float | None = None) -> float:
        """How usable an op is, from its affinity a (accuracy on augmented / clean validation): 0 at or below the
        floor (``op_affinity_floor`` for the ops, ``affinity_floor`` for the bases; or not measured yet), 1 at
        a >= 1, linear between."""
        if affinity is None:
            return 0.0
        low = self.op_affinity_floor if floor is None else floor
        return float(min(max((affinity - low) / (1.0 - low), 0.0), 1.0))

    def _base_probabilities(self) -> dict[str, float]:
        # flip: at most half the samples (a flip applied to all is no augmentation); crop: up to all of them. None
        # with an actor credit or on text, where _bases is empty
        rate = {"HorizontalFlip": 0.5, "PadCrop": 1.0}
        out: dict[str, float] = {}
        if self._paused:  # collapse_pause
            return dict.fromkeys(self._bases(self._modality), 0.0)
        for name in self._bases(self._modality):
            a = self._affinity.get(name)
            if self.base_gate == "step":
                out[name] = rate[name] * float(a is not None and a >= self.affinity_floor)
            else:
                out[name] = rate[name] * self._gate(a, self.affinity_floor)
        return out

    # --- actor -------------------------------------------------------------------------------------------------
    def _new_actor(self, m: Modality) -> _Actor:
        return _Actor(len(GLOBAL_FEATURES) + len(SAMPLE_FEATURES), self.hidden, len(self._ops(m)))

    def _check_weights(self, weights: Mapping[str, Any] | None) -> dict[str, dict[str, Tensor]] | None:
        if weights is None:
            return None
        obj = as_object(dict(weights), "weights", allowed=tuple(MODALITIES))
        out: dict[str, dict[str, Tensor]] = {}
        for modality, state in obj.items():
            template = self._new_actor(get_modality(modality)).state_dict()
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

    def _check_affinity(
        self, affinity: Mapping[str, Any] | None, field: str = "affinity", top: float = 10.0
    ) -> dict[str, dict[str, float]] | None:
        """``{"image" | "text": {op: number in [0, top]}}`` (affinities or levels of an earlier run)."""
        if affinity is None:
            return None
        obj = as_object(dict(affinity), field, allowed=tuple(MODALITIES))
        out: dict[str, dict[str, float]] = {}
        for modality, table in obj.items():
            where = join(field, modality)
            m = get_modality(modality)
            names = tuple(dict.fromkeys((*m.bases, *self._measured(m))))  # a base the policy leaves off may be kept
            table = as_object(table, where, allowed=names)
            out[modality] = {k: as_number(v, join(where, k), 0.0, top) for k, v in table.items()}
        return out

    def _actor(self, m: Modality) -> _Actor:
        if m.name not in self._actors:
            state = torch.random.get_rng_state()
            # the actor's init is the run's, not the global RNG's
            torch.manual_seed(self._seed_value * 2 + _MODALITY_INDEX[m.name])
            actor = self._new_actor(m)
            torch.random.set_rng_state(state)
            if self.weights is not None and m.name in self.weights:
                actor.load_state_dict(self.weights[m.name])
            self._actors[m.name] = actor
            self._optims[m.name] = torch.optim.Adam(actor.parameters(), lr=self.lr)
        return self._actors[m.name]

    def learned(self) -> OnlineAugNet:
        """A copy that carries what this run's actors learned as its ``weights`` (to warm-start the next run)."""
        weights: dict[str, Any] = dict(self.weights or {})
        for name, actor in self._actors.items():
            weights[name] = {k: v.detach().clone() for k, v in actor.state_dict().items()}
        affinity: dict[str, Any] = dict(self.affinity or {})
        if self._affinity:
            affinity[self._modality.name] = {k: round(v, 4) for k, v in self._affinity.items()}
        levels: dict[str, Any] = dict(self.levels or {})
        if self._level:
            levels[self._modality.name] = {k: round(v, 4) for k, v in self._level.items()}
        body = {**self.body(), "weights": weights or None, "affinity": affinity or None, "levels": levels or None}
        return OnlineAugNet(**body, image_spec=self.image_spec)

    # --- hooks ---------------------------------------------------------------------------------------------------
    def reset(self, seed: int | None = None) -> None:
        super().reset(seed)
        self._seed_value = 0 if seed is None else int(seed)
        self._actors: dict[str, _Actor] = {}
        self._optims: dict[bool, torch.optim.Optimizer] = {}
        self._pending: tuple[Tensor, Tensor, Tensor, bool] | None = None  # features, ops, magnitudes, modality
        self._grad: tuple[Tensor, Tensor] | None = None  # per-sample output-layer gradient and input (training)
        self._val_grad: Tensor | None = None  # gradient of the validation loss w.r.t. the output layer [out, in+1]
        self._captured: tuple[Tensor, Tensor] | None = None
        self._validating = False
        self._batches = 0
        self._affinity: dict[str, float] = {}  # op -> EMA of accuracy on augmented / clean validation samples
        self._level: dict[str, float] = {}  # op -> its magnitude level (magnitude_target): a share of the maximum
        self._level_start: dict[str, dict[str, float]] = dict(getattr(self, "levels", None) or {})
        self._affinity_start: dict[str, dict[str, float]] = dict(getattr(self, "affinity", None) or {})
        self._next_measured = 0
        self._magnitude_ema: float | None = None
        self._paused = False  # collapse_pause: the last clean validation minibatch saw a collapsed model
        self.trace: list[dict[str, float]] = []  # per update: progress, mean reward (affinity: the affinities)

    def attach(self, model: nn.Module) -> None:
        if self._hooked is model or self.credit == "affinity":  # affinity needs no gradients from the model
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
        if not self.learn:
            return False
        if self.credit == "affinity":
            return (self._batches - 1) % self.validation_every == 0  # after the first batch, then every k
        return self._val_grad is None or self._batches % self.validation_every == 0

    def validate_batch(self, predict: Any, inputs: Any, labels: Tensor) -> int:
        """Gradient credits: the validation loss's gradient at the output layer (``validate``). Affinity: the
        accuracy of the model on the clean minibatch, then on it with each of the next ``ops_per_validation`` ops
        applied (round robin over the op set, the bases first), at the magnitude the run applies now; each op's
        affinity (augmented / clean accuracy) is averaged over its measurements (EMA 0.5). Measured only once the
        model is learning: at twice chance on the clean minibatch, or a quarter of the way from chance to all
        correct where that is lower (two classes: 62.5%; twice chance would be 100%). Returns the sample-forward
        passes run."""
        n = int(labels.shape[0])
        if self.credit != "affinity":
            logits, targets, mask = _unpack(predict(inputs), labels)
            self.validate(_mean_loss(logits, targets, mask))
            return n
        modality = modality_of(inputs)
        self._modality = modality
        self._warm(modality)
        with torch.no_grad():
            logits, targets, mask = _unpack(predict(inputs), labels)
            # under tag_affinity "entities", the entity tokens' accuracy (so the trace's); None: a tagger's minibatch
            # without an entity, nothing to score an op by
            clean = self._accuracy(logits, targets, mask)
            if clean is None:
                return n
            chance = 1.0 / max(int(logits.shape[-1]), 2)
            # learning: at twice chance (10 classes: 20%), or a quarter of the way from chance to all correct
            # where twice chance is out of reach or nearly so (2 classes: 62.5%, not 100%)
            top, floor = _spread(logits, targets, mask)  # ``measure_spread``: nothing measured while one class rules
            over = _taken_over(top, floor, self.measure_spread, chance)
            self._paused = self.collapse_pause and over
            if clean < min(2 * chance, chance + 0.25 * (1 - chance)) or over:
                return n
            measured = self._measured(modality, not _taken_over(top, floor, self.base_spread, chance))
            g = torch.Generator().manual_seed(self._seed_value * 1_000_003 + self._batches)
            frac = max(self._magnitude_ema or 0.5, 0.3)
            runs = 0
            for _ in range(min(self.ops_per_validation, len(measured))):
                name = measured[self._next_measured % len(measured)]
                self._next_measured += 1
                leveled = self.magnitude_target is not None and name not in modality.bases  # (credit affinity here)
                level = self._level.get(name, self.level_start) if leveled else frac
                view = self._single_op(inputs, name, level, g)
                logits, targets, mask = _unpack(predict(view), labels)
                augmented = self._accuracy(logits, targets, mask)
                runs += 1
                if augmented is None:
                    continue
                ratio = augmented / clean
                old = self._affinity.get(name)
                self._affinity[name] = ratio if old is None else 0.5 * old + 0.5 * ratio
                if leveled:  # stochastic approximation: the level at which the op keeps the target affinity
                    step = self.level_lr * (ratio - float(self.magnitude_target))
                    self._level[name] = min(max(level + step, 0.05), 1.0)
        levels = {f"level:{k}": v for k, v in self._level.items()}
        self.trace.append({"progress": self._state["progress"], "clean": clean, **dict(self._affinity), **levels})
        return n * (1 + runs)

    def _accuracy(self, logits: Tensor, targets: Tensor, mask: Tensor | None) -> float | None:
        """The accuracy an affinity is a ratio of: the mean of the per-sample accuracies, or on a tagger with
        ``tag_affinity`` "entities" the accuracy pooled over the tokens that are an entity's by the gold tags or by
        the predictions (a tag other than the minibatch's most frequent, O: what entity F1 reads, its recall and its
        precision); None where there is no such token (nothing measured)."""
        if self.tag_affinity != "entities" or mask is None or logits.ndim != 3:
            return float(sample_stats(logits, targets, mask)["correct"].mean())
        scored, pred, gold = mask.bool(), logits.argmax(-1), targets.long()
        if not bool(scored.any()):
            return None
        majority = torch.bincount(gold[scored]).argmax()
        entity = scored & ((gold != majority) | (pred != majority))
        return float((pred == gold)[entity].float().mean()) if bool(entity.any()) else None

    def _single_op(self, inputs: Any, name: str, frac: float, g: torch.Generator) -> Any:
        """``inputs`` with op ``name`` applied to every sample (bases at their fixed strength, others at ``frac`` of
        the maximum magnitude)."""
        modality = modality_of(inputs)
        view, _ = modality.check(inputs)
        b = modality.count(view)
        index = torch.full((b,), modality.op_names.index(name))
        magnitude = torch.full((b,), 1.0 if name in modality.bases else frac * self._mmax(modality))
        mask = torch.ones(b, dtype=torch.bool)
        slot = modality.slot(index, magnitude, mask, g, space=self.space, size=modality.size(view))
        return self.apply(inputs, modality.cat([slot], b, g))

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
        if pending is not None:
            applied = pending[2][pending[2] > 0]
            if applied.numel():
                mean = float(applied.mean())
                self._magnitude_ema = mean if self._magnitude_ema is None else 0.95 * self._magnitude_ema + 0.05 * mean
        if self.credit == "affinity":
            return  # what it learns is the affinity of each op, in validate_batch
        if not self.learn or pending is None or grads is None or self._val_grad is None:
            return
        features, op, magnitude, m = pending
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
        self._reinforce(features, op, m, residual, raw=reward)

    def _reinforce(self, features: Tensor, op: Tensor, m: Modality, reward: Tensor, raw: Tensor | None = None) -> None:
        """One REINFORCE step of the actor on per-sample rewards, standardized within the batch."""
        spread = reward.std()
        if not bool(torch.isfinite(spread)) or float(spread) <= 1e-12:
            return
        advantage = (reward - reward.mean()) / spread
        actor = self._actor(m)
        logp = actor(features)
        chosen = logp.gather(1, op[:, None]).squeeze(1)
        entropy = -(logp.exp() * logp).sum(1).mean()
        loss = -(advantage * chosen).mean() - self.entropy_coef * entropy
        optim = self._optims[m.name]
        optim.zero_grad(set_to_none=True)
        loss.backward()
        optim.step()
        self.trace.append(
            {"progress": self._state["progress"], "reward": float((reward if raw is None else raw).mean())}
        )

    # --- decisions -----------------------------------------------------------------------------------------------
    def _choose_ops(self, entropy: Tensor, seen: Tensor, m: Modality, g: torch.Generator) -> Tensor:
        if self.credit == "affinity":
            self._warm(m)
            # each op in proportion to its gate (uniform until some op is measured usable); the draw is the
            # same stream whatever the weights
            weights = torch.tensor([self._gate(self._affinity.get(n)) for n in self._ops(m)])
            if float(weights.sum()) <= 0:
                weights = torch.ones_like(weights)
            cdf = (weights / weights.sum()).cumsum(0)
            u = torch.rand(entropy.shape[0], generator=g, device=g.device).cpu()
            op = torch.searchsorted(cdf, u * cdf[-1]).clamp(max=len(weights) - 1)
            self._pending = (torch.zeros(entropy.shape[0], 0), op, (1.0 - entropy).clamp(0, 1), m)
            return op
        glob = torch.tensor([self._state[k] for k in GLOBAL_FEATURES], dtype=torch.float32)
        features = torch.cat([glob.expand(entropy.shape[0], -1), torch.stack([entropy, seen.float()], 1)], 1)
        with torch.no_grad():
            cdf = self._actor(m)(features).exp().cumsum(1)
        u = torch.rand(entropy.shape[0], generator=g, device=g.device).cpu()
        op = torch.searchsorted(cdf, (u * cdf[:, -1]).unsqueeze(1)).squeeze(1).clamp(max=cdf.shape[1] - 1)
        self._pending = (features, op, (1.0 - entropy).clamp(0, 1), m)
        return op

    def _per_sample(self, m: Modality) -> int:
        return _per_modality(m, self.ops_per_sample, self.text_ops_per_sample)

    def _magnitude_share(self, entropy: Tensor, m: Modality) -> Tensor:
        if self._paused:  # collapse_pause: no augmentation until the model names more than one class again
            return torch.zeros_like(entropy)
        if _per_modality(m, self.entropy_magnitudes, self.text_entropy_magnitudes):
            rule = super()._magnitude_share(entropy, m)  # round 9: at least the (ramped) floor
            return rule.clamp(min=self.magnitude_floor * self._ramp()) if self.magnitude_floor > 0 else rule
        # every sample at its op's level (rounds 6-7 of experiments/ab-online), all scaled alike (round 8)
        return torch.full_like(entropy, self._ramp())

    def _ramp(self) -> float:
        """The flat share of every sample: up from 0 over the first ``magnitude_warmup`` of training, times the
        batch's confidence (1 - its mean entropy) with ``batch_confidence``."""
        share = 1.0
        if self.magnitude_warmup > 0:
            share *= min(self._state["progress"] / self.magnitude_warmup, 1.0)
        if self.batch_confidence:
            share *= min(max(1.0 - self._last_mean, 0.0), 1.0)
        return share

    def _op_scale(self, op: Tensor, m: Modality) -> Tensor:
        if self.magnitude_target is None or self.credit != "affinity":  # levels come from affinity measurements
            return torch.ones(op.shape[0])
        levels = torch.tensor([self._level.get(n, self.level_start) for n in self._ops(m)])
        return levels[op.long()]

    # --- file ----------------------------------------------------------------------------------------------------
    @classmethod
    def _fields(cls) -> tuple[str, ...]:
        return (
            "magnitude_max", "text_magnitude_max", "hidden", "lr", "entropy_coef", "validation_every",
            "validation_size", "learn", "credit", "affinity_floor", "op_affinity_floor", "base_gate",
            "bases", "entropy_magnitudes", "text_entropy_magnitudes", "magnitude_warmup", "batch_confidence",
            "magnitude_floor", "base_start", "base_spread", "measure_spread", "collapse_pause",
            "ops_per_validation", "magnitude_target",
            "level_start", "level_lr", "ops_per_sample", "text_ops_per_sample", "ops", "tag_affinity", "affinity",
            "levels", "weights",
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
            "affinity_floor": self.affinity_floor,
            "op_affinity_floor": self.op_affinity_floor,
            "base_gate": self.base_gate,
            "bases": None if self.bases is None else list(self.bases),
            "entropy_magnitudes": self.entropy_magnitudes,
            "text_entropy_magnitudes": self.text_entropy_magnitudes,
            "magnitude_warmup": self.magnitude_warmup,
            "batch_confidence": self.batch_confidence,
            "magnitude_floor": self.magnitude_floor,
            "base_start": self.base_start,
            "base_spread": self.base_spread,
            "measure_spread": self.measure_spread,
            "collapse_pause": self.collapse_pause,
            "ops_per_validation": self.ops_per_validation,
            "magnitude_target": self.magnitude_target,
            "level_start": self.level_start,
            "level_lr": self.level_lr,
            "ops_per_sample": self.ops_per_sample,
            "text_ops_per_sample": self.text_ops_per_sample,
            "weights": None,
        }
        if self.ops is not None:  # only where set: the preset's file (and every policy key from it) reads the same
            body["ops"] = list(self.ops)
        if self.tag_affinity != "tokens":  # likewise
            body["tag_affinity"] = self.tag_affinity
        body["affinity"] = self.affinity
        body["levels"] = self.levels
        if self.weights is not None:
            body["weights"] = {m: {k: v.tolist() for k, v in s.items()} for m, s in self.weights.items()}
        return body

    def describe(self, indent: str = "") -> str:
        """The settings that differ from the preset's (a search's pick reads in one line), and whether it starts
        from what an earlier run learned."""
        preset = _preset_body()
        learned = ("weights", "affinity", "levels")
        changes = [f"{k}={v!r}" for k, v in self.body().items() if k not in learned and v != preset.get(k)]
        warm = self.weights is not None or self.affinity is not None
        return f"{indent}OnlineAugNet({', '.join(changes) or 'the preset'}; warm_start={warm})"


_PRESET_BODY: dict[str, Any] = {}


def _preset_body() -> dict[str, Any]:
    """The online-augnet preset's settings (built once)."""
    if not _PRESET_BODY:
        _PRESET_BODY.update(OnlineAugNet().body())
    return _PRESET_BODY


register_kind("entropy-adaptive", EntropyAdaptive)
register_kind("online-augnet", OnlineAugNet)

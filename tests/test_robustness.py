"""Corruptions are deterministic and in range; FGSM lowers the accuracy of a trained tiny model."""

import pytest
import torch
import torch.nn.functional as F

from policy_search.benchmark.robustness import CORRUPTIONS, SEVERITIES, corrupt, evaluate_robustness, fgsm_accuracy


@pytest.mark.parametrize("name", CORRUPTIONS)
@pytest.mark.parametrize("channels", [1, 3])
def test_corruptions_deterministic_in_range_and_graded(name, channels):
    g = torch.Generator().manual_seed(0)
    images = torch.randint(40, 216, (16, channels, 16, 16), generator=g, dtype=torch.uint8)
    changes = []
    for severity in range(1, len(SEVERITIES[name]) + 1):
        out = corrupt(images, name, severity, seed=3)
        assert out.dtype == torch.uint8 and out.shape == images.shape
        assert torch.equal(out, corrupt(images, name, severity, seed=3))
        changes.append((out.float() - images.float()).abs().mean().item())
    assert changes[0] > 0 and changes[-1] >= changes[0]  # severity 5 changes images at least as much as 1


def test_corrupt_rejects_bad_arguments():
    x = torch.zeros(2, 3, 8, 8, dtype=torch.uint8)
    with pytest.raises(ValueError, match="unknown corruption 'fog'"):
        corrupt(x, "fog", 1)
    with pytest.raises(ValueError, match="severity must be an integer in 1..5"):
        corrupt(x, "contrast", 6)
    with pytest.raises(ValueError, match="uint8"):
        corrupt(x.float(), "contrast", 1)


def test_fgsm_lowers_accuracy_of_a_trained_model(mnist_batch):
    images, labels = mnist_batch
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(28 * 28, 10))

    def normalize(x):
        return (x.float() - 33.0) / 78.0

    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    for _ in range(60):
        loss = F.cross_entropy(model(normalize(images)), labels)
        opt.zero_grad()
        loss.backward()
        opt.step()
    result = evaluate_robustness(model, normalize, images, labels, severities=(1, 5), fgsm_eps=(8 / 255, 32 / 255))
    assert result["clean_accuracy"] > 0.9 and result["samples"] == 64
    assert set(result["corruptions"]) == set(CORRUPTIONS) and set(result["corruptions"]["jpeg"]) == {"1", "5"}
    # an over-confident linear model resists 8/255; 32/255 must break it, and more epsilon never helps
    assert result["fgsm"]["32/255"] < result["clean_accuracy"] - 0.3
    assert result["fgsm"]["32/255"] <= result["fgsm"]["8/255"] <= result["clean_accuracy"]
    assert fgsm_accuracy(model, normalize, images, labels, 0.0) == pytest.approx(result["clean_accuracy"])

import torch


def test_real_batches_have_expected_shapes(cifar_batch, mnist_batch):
    images, labels = cifar_batch
    assert images.shape == (64, 3, 32, 32) and images.dtype == torch.uint8
    assert labels.min() >= 0 and labels.max() <= 9
    images, labels = mnist_batch
    assert images.shape == (64, 1, 28, 28) and images.dtype == torch.uint8
    assert images.float().std() > 10  # real digits, not blanks

"""Compiled-code support shared by the CPU image kernels: whether numba runs (``POLICY_SEARCH_KERNELS``) and the
``njit`` decorator they all use (on-disk cache, GIL released).

Its own module so that ``geometry`` (the compiled grid-to-index step) and ``fused`` (the fused slot kernel) share
one switch without importing each other.
"""

from __future__ import annotations

import os

import torch

try:  # numba is a regular dependency; the torch path stays as the fallback and the GPU path.
    import numba
except ImportError:  # pragma: no cover - exercised only where numba cannot be installed
    numba = None

BACKENDS = ("auto", "fused", "torch")


def backend() -> str:
    """The kernel backend asked for by ``POLICY_SEARCH_KERNELS`` (auto | fused | torch; default auto)."""
    value = os.environ.get("POLICY_SEARCH_KERNELS", "auto").strip().lower() or "auto"
    if value not in BACKENDS:
        raise ValueError(
            f"POLICY_SEARCH_KERNELS={value!r} is not a kernel backend; use one of {BACKENDS} "
            "(auto: the fused CPU kernels when numba is installed, torch otherwise)"
        )
    if value == "fused" and numba is None:
        raise RuntimeError(
            "POLICY_SEARCH_KERNELS=fused but numba is not installed: pip install numba "
            "(or unset POLICY_SEARCH_KERNELS to fall back to the torch kernels)"
        )
    return value


def enabled(device: torch.device) -> bool:
    """Whether compiled code may run for tensors on ``device``: numba present, a CPU device, and
    POLICY_SEARCH_KERNELS not set to torch (the one predicate for every compiled path)."""
    return numba is not None and device.type == "cpu" and backend() != "torch"


# Module-level functions (not closures), so that numba's on-disk cache recognises them across processes.
# Decorating compiles nothing: each is compiled on its first call.
def njit(function):
    """numba.njit with the on-disk cache and the GIL released; the plain function where numba is missing."""
    if numba is None:  # pragma: no cover - never called without numba (usable() is False)
        return function
    try:
        return numba.njit(cache=True, nogil=True)(function)
    except RuntimeError:  # no writable cache location (read-only install, no home): compile in each process
        return numba.njit(nogil=True)(function)

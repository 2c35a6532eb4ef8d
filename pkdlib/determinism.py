"""CUDA determinism of a run: every run has a fixed seed, so a CUDA run asks for the same numbers on a rerun.

``cuda_determinism()`` sets, for the process:

* ``CUBLAS_WORKSPACE_CONFIG=:4096:8`` (unless already set to ``:4096:8`` or ``:16:8``), the fixed cuBLAS workspace
  that torch's deterministic mode requires of every cuBLAS call (PyTorch's reproducibility notes);
* cuDNN deterministic and not benchmarking;
* ``torch.use_deterministic_algorithms(True)``, strict: an op with no deterministic CUDA kernel stops the run with
  torch's error naming it, instead of warning and running nondeterministically. Strict mode is also what switches
  ``scaled_dot_product_attention`` (BERT's attention in transformers 5) to deterministic kernels: the flash and
  memory-efficient backward passes run their deterministic variants only when ``warn_only`` is False, and cuDNN
  attention is not selected (torch's ``sdp_utils``: ``check_cudnn_deterministic``; ``attention_backward.cu``).

``NONDETERMINISTIC_OPS`` names the ops of the training loop that have no deterministic CUDA kernel; none is known
(torch's list of such ops holds none that BERT fine-tuning or the PKD losses use: its ``NLLLoss`` entry is the
spatial ``nll_loss2d``; a sentence classifier's cross-entropy is the 2-d ``nll_loss``). Were one named there,
the run would use ``warn_only=True`` and its record would name the op. ``cuda_state()`` is what a CUDA run's
record stores as ``deterministic``. ``scripts/gpu_check.py`` runs every method's training under these settings
and compares two identical runs bit for bit, and measures the time they cost against torch's defaults.
"""

from __future__ import annotations

import os
import warnings

import torch

from .errors import KnownError

#: cuBLAS's fixed workspace, which its deterministic results need (PyTorch's reproducibility notes)
CUBLAS_WORKSPACE = ":4096:8"
#: the values torch's deterministic mode accepts
DETERMINISTIC_WORKSPACES = (":4096:8", ":16:8")
#: ops of the training loop without a deterministic CUDA kernel: none known (module docstring)
NONDETERMINISTIC_OPS: tuple[str, ...] = ()


class DeterminismError(KnownError, RuntimeError):
    """An environment that makes a deterministic CUDA run impossible, with what is accepted."""


def cuda_memory_used() -> bool:
    """Whether this process has allocated CUDA memory, and so may have used cuBLAS (which reads its workspace
    configuration when it first runs). Initialising CUDA alone (a device query such as the compute capability)
    allocates nothing."""
    if not torch.cuda.is_initialized():
        return False
    return any(torch.cuda.memory_stats(i).get("allocation.all.allocated", 0) for i in range(torch.cuda.device_count()))


def set_cublas_workspace() -> None:
    """``CUBLAS_WORKSPACE_CONFIG`` for deterministic cuBLAS: kept when set to an accepted value, set to
    ``:4096:8`` when unset (with a warning if this process has already used CUDA memory), refused otherwise."""
    value = os.environ.get("CUBLAS_WORKSPACE_CONFIG")
    if value is None:
        if cuda_memory_used():
            warnings.warn(  # noqa: B028
                "CUDA memory was used in this process before the run set CUBLAS_WORKSPACE_CONFIG: cuBLAS "
                "may already have its workspace; set the variable before starting Python to be sure"
            )
        os.environ["CUBLAS_WORKSPACE_CONFIG"] = CUBLAS_WORKSPACE
    elif value not in DETERMINISTIC_WORKSPACES:
        raise DeterminismError(
            f"CUBLAS_WORKSPACE_CONFIG={value!r} is set, but a deterministic CUDA run needs "
            f"{' or '.join(DETERMINISTIC_WORKSPACES)}; unset it (the run sets {CUBLAS_WORKSPACE}) "
            f"or set one of those"
        )


def cuda_determinism() -> None:
    """Turn CUDA's determinism on for this process (module docstring); recorded by ``cuda_state``."""
    set_cublas_workspace()
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False
    torch.use_deterministic_algorithms(True, warn_only=bool(NONDETERMINISTIC_OPS))


def cuda_state() -> dict:
    """The determinism settings in force (a CUDA run's record, ``hardware.deterministic``)."""
    return {
        "algorithms": torch.are_deterministic_algorithms_enabled(),
        "warn_only": torch.is_deterministic_algorithms_warn_only_enabled(),
        "nondeterministic_ops": list(NONDETERMINISTIC_OPS),
        "cudnn_deterministic": bool(torch.backends.cudnn.deterministic),
        "cudnn_benchmark": bool(torch.backends.cudnn.benchmark),
        "cublas_workspace_config": os.environ.get("CUBLAS_WORKSPACE_CONFIG"),
    }

"""What the method modules share: dtype upcasting, the Jensen-Shannon helpers, the shape check of
per-level outputs (level lists are FINEST FIRST: output 0 is the leaf level)."""

from __future__ import annotations

from .. import lazy

torch = lazy.module("torch")

JSD_CLAMP = 1e-7  # m = clamp((p + q) / 2, 1e-7, 1), as the HAFeature authors' JSD


def at_least_fp32(x: torch.Tensor) -> torch.Tensor:
    """Upcast bf16/fp16 (autocast) outputs; keep float64 as it is."""
    return x.to(torch.promote_types(x.dtype, torch.float32))


def kl_to_mixture(p: torch.Tensor, log_m: torch.Tensor) -> torch.Tensor:
    """Per row sum_c p log(p / m) with 0 log 0 = 0 (``F.kl_div(log_m, p, reduction="none")``)."""
    return (torch.xlogy(p, p) - p * log_m).sum(dim=1)


def mixture_log(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    return torch.clamp(0.5 * (p + q), JSD_CLAMP, 1.0).log()


def jsd(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """0.5 [KL(p||m) + KL(q||m)], batch mean (the HAFeature authors' ``JSDSimilarLoss``)."""
    log_m = mixture_log(p, q)
    return 0.5 * (kl_to_mixture(p, log_m) + kl_to_mixture(q, log_m)).mean()


def check_levels(outputs: list[torch.Tensor], level_targets: torch.Tensor) -> None:
    if level_targets.dim() != 2 or level_targets.shape[1] < len(outputs):
        raise ValueError(
            f"level_targets must be B x n_levels with n_levels >= {len(outputs)} (one column per "
            f"output, finest first), got shape {tuple(level_targets.shape)}"
        )

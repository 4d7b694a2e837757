"""Neural-collapse statistics of a model's penultimate features (the classifier's input), as
in the HAFrame authors' analysis (ltong1130ztr/HAFrame, HAFrame/neural_collapse.py) plus NC1.

One inference pass over the non-augmented training split accumulates, in float64 on the run's
device, the class sums, class counts and the Gram matrix of the features; from them:

- ``nc1``: within-class variability collapse Tr(Sigma_W Sigma_B^+) / K (Papyan et al. 2020),
  Sigma_W the within-class covariance, Sigma_B the covariance of the class means around the
  global mean;
- ``{raw,centred}_{haframe,etf}_dev_mean`` / ``_dev_std``: over class pairs i < j, the mean of
  |cos(mu_i, mu_j) - S_ij| and the standard deviation of cos(mu_i, mu_j) - S_ij (the authors'
  pair), for the HAFrame's target cosines S and for the ETF's -1/(K-1), on the raw class means
  and on the class means minus the global mean;
- ``self_duality_{raw,centred}``: ||W/||W||_F - M/||M||_F||_F^2, W the K x d linear map from
  the features to the leaf logits (absent when the method's prediction is not linear).

What each method's "frame" is here: the classifier's rows (fixed for HAFrame and the ETF,
learned for CE and the others); for BiLT the finest level's base classifier, whose softmax its
cost correction re-ranks; Hier-COS has none, its classes being the path subspaces of a fixed
orthonormal basis, scored by sign-free projection norms, so its self-duality stays empty while
the class-mean cosine statistics apply as for every method.

The authors compute the deviation statistics with Python loops over pairs of classes; here
they are vectorised over the upper triangle. NC1 is not in the authors' code.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

COLUMNS = (
    "nc1",
    *(
        f"{means}_{target}_dev_{stat}"
        for means in ("raw", "centred")
        for target in ("haframe", "etf")
        for stat in ("mean", "std")
    ),
    "self_duality_raw",
    "self_duality_centred",
)


@dataclass
class FeatureMoments:
    """Per-class sums and counts and the Gram matrix of features, accumulated batch by batch."""

    sums: torch.Tensor  # K x d, float64
    counts: torch.Tensor  # K, float64
    gram: torch.Tensor  # d x d, float64: sum over samples of h h^T

    @classmethod
    def zeros(cls, num_classes: int, dim: int, device: torch.device) -> FeatureMoments:
        return cls(
            sums=torch.zeros(num_classes, dim, dtype=torch.float64, device=device),
            counts=torch.zeros(num_classes, dtype=torch.float64, device=device),
            gram=torch.zeros(dim, dim, dtype=torch.float64, device=device),
        )

    def add(self, features: torch.Tensor, labels: torch.Tensor) -> None:
        h = features.detach().to(torch.float64)
        self.sums.index_add_(0, labels, h)
        self.counts += torch.bincount(labels, minlength=self.counts.numel()).to(torch.float64)
        self.gram += h.T @ h


def statistics(
    moments: FeatureMoments, target_cosines: dict[str, torch.Tensor | None], weight: torch.Tensor | None
) -> dict[str, float | None]:
    """The ``COLUMNS`` from accumulated moments; ``target_cosines`` maps "haframe" and "etf" to
    K x K target cosine matrices (None: a target that does not apply, its columns None);
    ``weight`` is the K x d linear classifier (or None)."""
    counts = moments.counts
    if (counts == 0).any():
        raise ValueError(
            f"neural-collapse statistics need every class in the split; {int((counts == 0).sum())} have no sample"
        )
    K = counts.numel()
    N = counts.sum()
    means = moments.sums / counts[:, None]
    global_mean = moments.sums.sum(dim=0) / N
    centred = means - global_mean
    within = (moments.gram - (moments.sums.T / counts) @ moments.sums) / N
    result: dict[str, float | None] = {"nc1": _nc1(within, centred, K)}
    for name, class_means in (("raw", means), ("centred", centred)):
        cosines = _cosines(class_means)
        upper = torch.triu_indices(K, K, offset=1, device=means.device)
        for target, S in target_cosines.items():
            if S is None:
                result[f"{name}_{target}_dev_mean"] = result[f"{name}_{target}_dev_std"] = None
                continue
            difference = (cosines - S.to(cosines))[upper[0], upper[1]]
            result[f"{name}_{target}_dev_mean"] = float(difference.abs().mean())
            result[f"{name}_{target}_dev_std"] = float(difference.std(unbiased=False))
        result[f"self_duality_{name}"] = None if weight is None else _self_duality(weight.to(means), class_means)
    return result


def _nc1(within: torch.Tensor, centred: torch.Tensor, K: int) -> float:
    """Tr(Sigma_W Sigma_B^+) / K with Sigma_B = centred^T centred / K, through the SVD of the
    centred means (rank <= K - 1): Tr = sum_j v_j^T Sigma_W v_j / sigma_j^2."""
    _, s, Vh = torch.linalg.svd(centred / math.sqrt(K), full_matrices=False)
    keep = s > s.max() * max(centred.shape) * torch.finfo(s.dtype).eps
    V, s = Vh[keep].T, s[keep]
    return float(((V * (within @ V)).sum(dim=0) / s**2).sum() / K)


def _cosines(vectors: torch.Tensor) -> torch.Tensor:
    unit = vectors / vectors.norm(dim=1, keepdim=True)
    return unit @ unit.T


def _self_duality(weight: torch.Tensor, class_means: torch.Tensor) -> float:
    return float(((weight / weight.norm() - class_means / class_means.norm()) ** 2).sum())

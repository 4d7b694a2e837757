"""A method module for the tests only: cross-entropy on mixed batches (mixup, Zhang et al.,
ICLR 2018), which owns its training step through ``Method.training_loss``.

A batch is mixed with a shuffled copy of itself, x = lam x + (1 - lam) x[perm], and the loss
is lam CE(y) + (1 - lam) CE(y[perm]); lam ~ Beta(ALPHA, ALPHA) and perm are drawn from the
classifier's generator, seeded per epoch as the other methods' per-epoch state.
"""

from __future__ import annotations

import numpy as np
import torch

from haframe.methods.base import Method
from haframe.methods.ce import LinearClassifier

ALPHA = 0.4


class MixupClassifier(LinearClassifier):
    def __init__(self, dim: int, num_classes: int):
        super().__init__(dim, num_classes)
        self.rng = np.random.default_rng(0)

    def start_epoch(self, seed: int, epoch: int) -> None:
        self.rng = np.random.default_rng([seed, epoch])


class Mixup(Method):
    name = "mixup"

    def classifier(self, dim, assets, run) -> MixupClassifier:
        return MixupClassifier(dim, assets.num_classes)

    def training_loss(self, model, images, labels, forward):
        classifier = model.classifier
        lam = float(classifier.rng.beta(ALPHA, ALPHA))
        perm = torch.from_numpy(classifier.rng.permutation(len(labels))).to(labels.device)
        outputs, features = forward(lam * images + (1.0 - lam) * images[perm])
        loss = lam * classifier.loss(outputs, features, labels) + (1.0 - lam) * classifier.loss(
            outputs, features, labels[perm]
        )
        return loss, outputs


METHOD = Mixup()

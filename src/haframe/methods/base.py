"""What every method and post-hoc rule module provides.

A **method** is how a variant trains and predicts: its hyper-parameters (with their checks),
the classifier after the head, the tensors that classifier precomputes from the hierarchy and
the frame, its loss and its prediction rule (the leaf scores evaluation ranks). A **post-hoc
rule** re-ranks a trained model's predictions at evaluation (CRM); rules stack into chains
("hie+crm"), and a rule may need an auxiliary model trained beside the variant.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, TypeAlias

import numpy as np

from .. import lazy
from ..options import Option
from ..runs import ConfigError

torch = lazy.module("torch")
nn = lazy.module("torch.nn")

if TYPE_CHECKING:
    from ..assets import RunAssets
    from ..hierarchy import TreeShape
    from ..models.model import Model
    from ..runs import RunSpec

    # images -> (outputs, features): the model's forward under the run's precision (autocast)
    Forward: TypeAlias = Callable[[torch.Tensor], tuple[Any, torch.Tensor]]


class MethodClassifier(abc.ABC):
    """The layer after the head, and everything a method computes from its outputs.

    A subclass is written as a ``torch.nn.Module`` (submodules, buffers, ``forward``), but
    declared without importing torch, so that reading a method's module for its declaration (the
    study does, in every Snakemake launch) imports none: constructing one returns an instance of
    its ``torch.nn.Module`` twin (``torch_module_class``: the class with ``nn.Module`` as its last
    base, made once), which ``isinstance`` and ``type(...).__name__`` see as the class itself.

    ``forward(features)`` gives the method's outputs (a tensor, or a list of per-level
    tensors); ``loss`` trains on them; ``class_scores`` is the prediction rule: an N x C
    tensor whose order ranks the classes (its softmax is the distribution that post-hoc rules
    and calibration read). The classes are the K leaves, except for an auxiliary model that
    predicts other classes (HiE's coarse model: the leaves' parents), whose ``labels`` maps the
    dataset's leaf labels to its own. Tensors precomputed from the hierarchy or frame are
    non-persistent buffers: they move with the model and stay out of checkpoints.
    """

    @abc.abstractmethod
    def loss(self, outputs: Any, features: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """The training loss of a batch (a scalar)."""

    def class_scores(self, outputs: Any) -> torch.Tensor:
        return outputs

    def labels(self, leaf_labels: torch.Tensor) -> torch.Tensor:
        """The classes this classifier predicts for samples of these leaves (the leaves)."""
        return leaf_labels

    def level_hits(self, outputs: Any, leaf_labels: torch.Tensor) -> torch.Tensor | None:
        """N x depth int8, where the method has a per-depth prediction rule of its own (Hier-COS's
        level-wise subspaces): 1 where the sample's node at depth l + 1 is predicted, 0 where not,
        -1 below a shallow leaf; None (the default) where it has none."""
        return None

    def linear_weight(self) -> torch.Tensor | None:
        """The K x d matrix W with leaf logits = features W^T (+ a bias), when the prediction is
        linear in the features (the neural-collapse self-duality needs it); else None."""
        return None

    def start_epoch(self, seed: int, epoch: int) -> None:
        """Called before every training epoch (for per-epoch seeded state)."""

    def __new__(cls, *args: Any, **kwargs: Any) -> MethodClassifier:
        return super().__new__(torch_module_class(cls))


_TORCH_MODULE_CLASSES: dict[type, type] = {}


def torch_module_class(cls: type) -> type:
    """``cls`` as a ``torch.nn.Module`` subclass: itself if it is one, else its twin
    ``class cls(cls, nn.Module)``, made the first time and kept."""
    if issubclass(cls, nn.Module):
        return cls
    if cls not in _TORCH_MODULE_CLASSES:
        _TORCH_MODULE_CLASSES[cls] = type(
            cls.__name__, (cls, nn.Module), {"__module__": cls.__module__, "__qualname__": cls.__qualname__}
        )
    return _TORCH_MODULE_CLASSES[cls]


class Method(abc.ABC):
    """A training method; one instance per method module, as its ``METHOD``."""

    name: ClassVar[str]
    ranked_by: ClassVar[str] = "the softmax of the leaf logits"  # what ranks the classes, for the tables
    heads: ClassVar[tuple[str, ...]] = ("I", "II")
    auxiliary_only: ClassVar[bool] = False  # trained only as a post-hoc rule's auxiliary model
    # its hyper-parameters: type, default, range, meaning and search space (haframe.options)
    params: ClassVar[Mapping[str, Option]] = {}
    renamed: ClassVar[Mapping[str, str]] = {}  # a refused key -> the key that replaced it
    added_later: ClassVar[tuple[str, ...]] = ()  # params added after runs were recorded (identity.training_record)

    def resolve_params(self, values: Mapping[str, Any], where: str) -> dict:
        """The method's hyper-parameters: given values checked by their option (and kept as
        given: a run's identity reads them), the rest defaulted."""
        for key, value in values.items():
            if key in self.renamed:
                raise ConfigError(f"{where}.{key}: {self.name} calls this parameter {self.renamed[key]!r} now")
            if key not in self.params:
                raise ConfigError(
                    f"{where}.{key}: not a parameter of method {self.name!r} (it has {sorted(self.params) or 'none'})"
                )
            self.params[key].check(value, f"{where}.{key}")
        return {key: values.get(key, param.default) for key, param in self.params.items()}

    def report_note(self, params: Mapping[str, Any]) -> str | None:
        """A line for the tables' notes when the run's values make it differ from the method's
        usual form (e.g. a reproduced flaw of the authors' code); None: nothing to say."""
        return None

    def output_width(self, assets: RunAssets) -> int:
        """The width the head must produce for this method's classifier by default (K)."""
        return assets.num_classes

    def class_names(self, assets: RunAssets) -> list[str]:
        """The classes its scores rank, in their order: the leaves, but for an auxiliary model
        that predicts other classes."""
        return list(assets.hierarchy.classes)

    def tree_problems(self, run: RunSpec, tree: TreeShape) -> dict[str, str]:
        """{key: what is wrong} for the run's values that a dataset with this tree cannot take
        (key: a parameter's name, or ``training.<field>``); only what ``tree`` tells is checked.
        The study checks it before any job runs where the tree is known then, and
        ``build_model`` again, on the hierarchy stage's tree, before any epoch."""
        return {}

    @abc.abstractmethod
    def classifier(self, dim: int, assets: RunAssets, run: RunSpec) -> MethodClassifier:
        """The classifier on ``dim``-wide features, with the run's tensors precomputed."""

    def training_loss(
        self, model: Model, images: torch.Tensor, labels: torch.Tensor, forward: Forward
    ) -> tuple[torch.Tensor, Any]:
        """(loss, outputs) of one training batch: the scalar the step minimises, and the outputs
        whose ``class_scores`` count the batch's training errors against ``labels``.

        The training loop owns the rest of the step (zero_grad, backward, the optimiser step,
        the sums and checks); a method overrides this to train otherwise (e.g. on mixed
        images). ``forward`` runs ``model`` under the run's precision; the loss is computed
        outside it, in the outputs' precision.
        """
        outputs, features = forward(images)
        return model.classifier.loss(outputs, features, labels), outputs


@dataclass(frozen=True)
class AuxiliaryModel:
    """A model a post-hoc rule needs beside the variant it amends (e.g. HiE's coarse one):
    trained by ``method`` with the variant's backbone, head and recipe, once per (dataset,
    seed, head) and shared by every variant that asks for it."""

    name: str
    method: str


class PostHocRule(abc.ABC):
    """An evaluation-time rule; one instance per rule module, as its ``RULE``.

    ``apply`` maps (leaf probabilities, leaf scores) to new ones, so rules stack: a chain
    "hie+crm" applies hie, then crm, to the variant's own prediction.
    """

    name: ClassVar[str]
    ranked_by: ClassVar[str]  # how the rule re-ranks, for the tables
    auxiliary: ClassVar[AuxiliaryModel | None] = None
    params: ClassVar[Mapping[str, Option]] = {}  # its options (haframe.options); CRM and HiE take none

    @abc.abstractmethod
    def apply(
        self,
        probabilities: np.ndarray,
        scores: np.ndarray,
        assets: RunAssets,
        auxiliary_probabilities: np.ndarray | None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """(probabilities, scores) after the rule, both N x K."""

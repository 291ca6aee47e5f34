"""Encoders of other libraries as backbones: ``torchvision:NAME`` and ``timm:NAME`` (a registry
of libraries).

A library entry creates the named model without its classifier and says how the model wants
its input (``InputConfig``: size, mean, std; from torchvision's weights meta or timm's
``pretrained_cfg``). ``ExternalEncoder`` wraps the model so that it takes the suite's images
(``[B, C, H, W]`` float in ``[0, 1]``, grey or RGB, any size): grey is replicated to three
channels, the images are resized (bilinear, antialiased; no crop: a centre crop would cut a
small glyph's strokes) to the model's input size and normalised with its mean and std.

timm is an optional extra (``pip install '.[timm]'``); asking for ``timm:NAME`` without it is
one error line.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from typing import Any, Callable, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from benchmark.errors import BenchmarkError
from benchmark.registry import Registry

#: ImageNet's channel statistics: the default where a model's config names none.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class InputConfig:
    """What a model's inputs must be: ``size`` (H, W) and per-channel ``mean`` / ``std``."""

    size: tuple[int, int]
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD


@dataclass(frozen=True)
class Created:
    """A library's model without its classifier.

    Attributes:
        model: maps ``[B, 3, H, W]`` (normalised) to ``[B, D]`` or a feature map.
        config: its input size and normalisation.
        head: state-dict prefixes of the classifier that was removed (a full checkpoint's keys
            under them are ignored when loading weights).
        download: returns the library's own pretrained weights (a state dict for ``model``).
    """

    model: nn.Module
    config: InputConfig
    head: tuple[str, ...]
    download: Callable[[], Mapping[str, torch.Tensor]]


#: Library name (the part before ``:``) → ``create(model_name) -> Created``.
LIBRARIES: Registry[Callable[[str], Created]] = Registry("encoder library")


def _strip_last_linear(model: nn.Module, attribute: str) -> str:
    """Replace the last ``nn.Linear`` of ``model.<attribute>`` (the classifier) by Identity;
    returns the state-dict prefix of the removed layer."""
    head = getattr(model, attribute)
    if isinstance(head, nn.Linear):
        setattr(model, attribute, nn.Identity())
        return f"{attribute}."
    linears = [name for name, module in head.named_modules() if isinstance(module, nn.Linear)]
    if not linears:
        raise BenchmarkError(f"torchvision model has no linear classifier in {attribute!r}")
    *parents, last = linears[-1].split(".")
    owner = head.get_submodule(".".join(parents)) if parents else head
    setattr(owner, last, nn.Identity())
    return f"{attribute}.{linears[-1]}."


@LIBRARIES.register("torchvision", "torchvision.models classification models (torchvision:resnet18)")
def torchvision_model(name: str) -> Created:
    """A torchvision classification model, random weights, classifier removed; input size and
    normalisation from its default weights' meta (no download)."""
    import torchvision.models as models

    known = models.list_models(module=models)
    if name not in known:
        raise BenchmarkError(f"unknown torchvision model {name!r} (known: {', '.join(known)})")
    model = models.get_model(name, weights=None)
    attribute = next((a for a in ("fc", "heads", "head", "classifier") if hasattr(model, a)), None)
    if attribute is None:
        raise BenchmarkError(f"torchvision model {name!r}: no classifier attribute found")
    head = _strip_last_linear(model, attribute)
    weights = models.get_model_weights(name).DEFAULT
    preset = weights.transforms()
    size = preset.crop_size[0]
    config = InputConfig((size, size), tuple(preset.mean), tuple(preset.std))
    return Created(model, config, (head,), lambda: weights.get_state_dict(progress=False))


@LIBRARIES.register("timm", "timm models, an optional extra: pip install '.[timm]' (timm:resnet18)")
def timm_model(name: str) -> Created:
    """A timm model with ``num_classes=0`` (pooled features), random weights; input size and
    normalisation from its ``pretrained_cfg``."""
    if importlib.util.find_spec("timm") is None:
        raise BenchmarkError(f"timm:{name} needs timm, an optional extra: pip install '.[timm]'")
    import timm
    from timm.data import resolve_data_config

    if not timm.is_model(name):
        raise BenchmarkError(f"unknown timm model {name!r} (timm.list_models() names them)")
    model = timm.create_model(name, pretrained=False, num_classes=0)
    data = resolve_data_config({}, model=model)
    _, height, width = data["input_size"]
    config = InputConfig((int(height), int(width)), tuple(data["mean"]), tuple(data["std"]))
    classifier = model.pretrained_cfg.get("classifier") or "head"
    classifiers = classifier if isinstance(classifier, (list, tuple)) else (classifier,)

    def download() -> Mapping[str, torch.Tensor]:
        return timm.create_model(name, pretrained=True, num_classes=0).state_dict()

    return Created(model, config, tuple(f"{c}." for c in classifiers), download)


def is_external(name: str) -> bool:
    """Whether a backbone name is ``library:model``."""
    return ":" in name


class ExternalEncoder(nn.Module):
    """A library's model taking the suite's images: grey → 3 channels, resized to the model's
    input size, normalised, then the model.

    Attributes:
        name: ``library:model``.
        model: the library's module (its state dict is the library's, keys unprefixed).
        config: input size and normalisation.
        head: state-dict prefixes of the removed classifier.
    """

    def __init__(self, name: str, created: Created) -> None:
        super().__init__()
        self.name = name
        self.model = created.model
        self.config = created.config
        self.head = created.head
        self._download = created.download
        self.register_buffer("mean", torch.tensor(created.config.mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(created.config.std).view(1, 3, 1, 1), persistent=False)

    def preprocess(self, x: torch.Tensor) -> torch.Tensor:
        """The model's input from the suite's images.

        Shape:
            x: ``[B, 1 or 3, H, W]`` float in ``[0, 1]``. Output: ``[B, 3, *config.size]``.
        """
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        elif x.shape[1] != 3:
            raise BenchmarkError(f"{self.name} takes grey or RGB images, got {x.shape[1]} channels")
        if tuple(x.shape[-2:]) != self.config.size:
            x = F.interpolate(x, size=self.config.size, mode="bilinear", align_corners=False,
                              antialias=True)
        return (x - self.mean) / self.std

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Shape: x ``[B, C, H, W]`` in ``[0, 1]`` → the model's features ``[B, D]``."""
        return self.model(self.preprocess(x))

    def library_weights(self) -> Mapping[str, torch.Tensor]:
        """The library's own pretrained weights (downloaded; needs a network)."""
        try:
            return self._download()
        except Exception as err:  # noqa: BLE001 (urllib, huggingface_hub, ... raise their own)
            first = (str(err).strip().splitlines() or [type(err).__name__])[0]
            raise BenchmarkError(f"{self.name}: cannot get the library's weights ({first})") from None


def build_external(name: str, in_channels: int) -> ExternalEncoder:
    """``library:model`` as a module over ``in_channels`` (1 or 3) images.

    Raises:
        BenchmarkError: an unknown library or model, timm not installed, other channel counts.
    """
    library, _, model = name.partition(":")
    if not model:
        raise BenchmarkError(f"backbone {name!r}: give library:model, e.g. torchvision:resnet18")
    if in_channels not in (1, 3):
        raise BenchmarkError(f"backbone {name!r} takes grey or RGB images, not {in_channels} channels")
    return ExternalEncoder(name, LIBRARIES.get(library)(model))


def read_state_dict(path: str) -> dict[str, Any]:
    """The tensors of a weights file: a ``.pth`` state dict, or a checkpoint holding one under
    ``state_dict`` / ``model`` / ``model_state_dict`` (DataParallel's ``module.`` dropped).

    Raises:
        BenchmarkError: a missing, unreadable or tensor-less file.
    """
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise BenchmarkError(f"weights file {path} does not exist") from None
    except Exception as err:  # noqa: BLE001 (torch raises RuntimeError, EOFError, UnpicklingError, ...)
        first = (str(err).strip().splitlines() or [type(err).__name__])[0].split(". ")[0]
        raise BenchmarkError(f"weights file {path} cannot be read ({first})") from None
    for key in ("state_dict", "model", "model_state_dict"):
        if isinstance(state, Mapping) and isinstance(state.get(key), Mapping):
            state = state[key]
            break
    if not isinstance(state, Mapping) or not any(isinstance(v, torch.Tensor) for v in state.values()):
        raise BenchmarkError(f"weights file {path} holds no state dict")
    return {k.removeprefix("module."): v for k, v in state.items() if isinstance(v, torch.Tensor)}

"""``Split``: one split of a dataset, held in memory as a uint8 image tensor."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np
import torch


@dataclass(frozen=True)
class Split:
    """A prepared dataset split.

    Attributes:
        dataset: registered dataset name, e.g. ``"omniglot"``.
        name: split name, e.g. ``"background"`` or ``"vinyals_test"``.
        images: ``uint8`` tensor, shape ``[N, C, H, W]``.
        labels: ``int64`` tensor, shape ``[N]``, values in ``0..num_classes-1``.
        class_names: one name per class id, ``len == num_classes``.
    """

    dataset: str
    name: str
    images: torch.Tensor
    labels: torch.Tensor
    class_names: tuple[str, ...]
    _fingerprint: list[str] = field(default_factory=list, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.images.dtype != torch.uint8 or self.images.dim() != 4:
            raise ValueError(f"{self.dataset}/{self.name}: images must be uint8 [N, C, H, W]")
        if self.labels.shape != (self.images.shape[0],):
            raise ValueError(f"{self.dataset}/{self.name}: labels must be [N] like images")

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """``(C, H, W)``."""
        c, h, w = self.images.shape[1:]
        return int(c), int(h), int(w)

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def class_counts(self) -> torch.Tensor:
        """Images per class, shape ``[num_classes]``."""
        return torch.bincount(self.labels, minlength=self.num_classes)

    @property
    def fingerprint(self) -> str:
        """sha256 (first 16 hex digits) of the images, labels and class names; cached."""
        if not self._fingerprint:
            digest = hashlib.sha256()
            digest.update(self.images.contiguous().numpy().tobytes())
            digest.update(self.labels.to(torch.int64).contiguous().numpy().tobytes())
            digest.update("\n".join(self.class_names).encode())
            self._fingerprint.append(digest.hexdigest()[:16])
        return self._fingerprint[0]

    def select_classes(self, class_ids: list[int], name: str | None = None) -> "Split":
        """A new split holding only ``class_ids`` (relabelled 0..len-1 in that order)."""
        remap = torch.full((self.num_classes,), -1, dtype=torch.int64)
        remap[torch.tensor(class_ids, dtype=torch.int64)] = torch.arange(len(class_ids))
        new_labels = remap[self.labels]
        keep = new_labels >= 0
        return Split(
            dataset=self.dataset,
            name=name or f"{self.name}[{len(class_ids)} classes]",
            images=self.images[keep],
            labels=new_labels[keep],
            class_names=tuple(self.class_names[i] for i in class_ids),
        )


def unit_float(images: torch.Tensor) -> torch.Tensor:
    """``uint8`` images as ``float32`` in ``[0, 1]``: ``float32(x) * float32(1/255)``.

    Every path from a split to a model uses it, so an image is the same float wherever it
    was made. On the CPU it is one numpy ufunc pass, which casts and scales in cache-sized
    blocks (half the memory traffic of torch's cast, then scale); elsewhere torch's two
    kernels, with the same result.
    """
    if images.device.type == "cpu":
        return torch.from_numpy(np.multiply(images.numpy(), _UNIT, dtype=np.float32))
    return images.to(torch.float32).mul_(float(_UNIT))


_UNIT = np.float32(1 / 255)

"""Episodic evaluation: fixed test episodes, a head, mean accuracy ± 95% CI.

Every method is evaluated on the identical episodes (``fixed_episodes``: a labels sampler and a
seed list), with a frozen representation (``model.eval()``, ``torch.no_grad``), support and
query embedded in one call per batch of episodes, in float32 or under the autocast of a reduced
precision (``benchmark.precision``; the features are float32 either way, and the frozen-
embedding heads classify them in float32).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np
import torch
from torch import nn

from benchmark.spec import limits
from benchmark.bars import progress_bar
from benchmark.checkpoint import load_checkpoint, rebuild_method
from benchmark.methods import ModelSpec
from benchmark.data.convert import InputConversion, convert_for, describe
from benchmark.data.split import Split, unit_float
from benchmark.device import resolve_device
from benchmark.episodes.episode import Episode
from benchmark.samplers.base import Sampler
from benchmark.errors import BenchmarkError
from benchmark.interrupt import safe_points, stop_point
from benchmark.heads import (HEADS, EmbedFn, Embedder, EmbeddingHead, Head, check_head, embed_fn,
                             eval_mode, model_device)
from benchmark.precision import autocast, resolve_eval
from benchmark.report.stats import mean_ci95
from benchmark.split_names import evaluated_split
from benchmark.usable import check_weights

#: Images embedded per ``embed`` call (several small episodes share one call).
BATCH_IMAGES = 1024


@dataclass(frozen=True)
class EpisodeSet:
    """A fixed, lazily drawn list of test episodes: ``sampler.sample(seeds[i])``.

    Attributes:
        sampler: the sampler of the episodes (a labels sampler over the test split).
        seeds: one seed per episode.
        ways, shots, queries: N, K, Q of every episode.
        dataset, split, fingerprint: where the episodes come from.
    """

    sampler: Sampler
    seeds: tuple[int, ...]
    ways: int
    shots: int
    queries: int
    dataset: str
    split: str
    fingerprint: str

    def __len__(self) -> int:
        return len(self.seeds)

    def first(self, count: int) -> "EpisodeSet":
        """The first ``count`` of these episodes (all of them when ``count >= len(self)``)."""
        return replace(self, seeds=self.seeds[:count])

    def batches(self, size: int) -> Iterator[list[Episode]]:
        """Consecutive lists of at most ``size`` episodes, drawn with ``sample_batch``."""
        for start in range(0, len(self.seeds), size):
            yield self.sampler.sample_batch(self.seeds[start : start + size])

    def __iter__(self) -> Iterator[Episode]:
        for batch in self.batches(32):
            yield from batch


@dataclass(frozen=True)
class EvalResult:
    """Accuracy over fixed episodes.

    Attributes:
        mean: mean accuracy in ``[0, 1]``.
        ci95: half-width of the 95% confidence interval (Student t, ``benchmark.report.stats.mean_ci95``),
            in ``[0, 1]`` units (nan for a single episode).
        accuracies: per-episode accuracies, ``float64 [episodes]``.
        episodes, ways, shots, queries: the setting.
        head: the head's registered name.
        input_conversion: what was done to bring the images to the model's shape (empty:
            nothing).
        precision: the precision the images were embedded in (float32, bfloat16, float16).
        rotations: whether each class rotated by 90°, 180° and 270° was a class of its own.
    """

    mean: float
    ci95: float
    accuracies: np.ndarray
    episodes: int
    ways: int
    shots: int
    queries: int
    head: str
    input_conversion: str = ""
    precision: str = "float32"
    rotations: bool = False

    def __repr__(self) -> str:
        """One line: ``EvalResult(62.31 ± 0.84 % (600 episodes, 5-way 1-shot, head
        prototype))`` (the per-episode accuracies are in ``accuracies``)."""
        return f"EvalResult({self.summary()})"

    def summary(self) -> str:
        """E.g. ``62.31 ± 0.84 % (600 episodes, 5-way 1-shot, head prototype)``, with the input
        conversion when there was one (``; input: RGB→grey (ITU-R 601 luma), ...``), the
        precision when it was not float32 (``; embedded in bfloat16``) and rotations as
        classes when they were (``; rotations as classes``)."""
        converted = f"; input: {self.input_conversion}" if self.input_conversion else ""
        reduced = f"; embedded in {self.precision}" if self.precision != "float32" else ""
        rotated = "; rotations as classes" if self.rotations else ""
        return (
            f"{100 * self.mean:.2f} ± {100 * self.ci95:.2f} % ({self.episodes} episodes, "
            f"{self.ways}-way {self.shots}-shot, head {self.head}{converted}{reduced}{rotated})"
        )


def episode_seeds(seed: int, count: int) -> tuple[int, ...]:
    """``count`` 31-bit episode seeds derived from ``seed``."""
    state = np.random.SeedSequence([seed, 0x5E7]).generate_state(count)
    return tuple(int(s & 0x7FFFFFFF) for s in state)


def fixed_episodes(
    split: Split, ways: int, shots: int, queries: int, count: int, seed: int, device: str = "cpu",
    rotations: bool = False,
) -> EpisodeSet:
    """The test episodes every method is evaluated on: labels episodes of ``split``, made on
    ``device`` (``auto``, ``cpu``, ``cuda``); episode ``i`` is ``sampler.sample(seeds[i])``.
    With ``rotations``, each class rotated by 90°, 180° and 270° is a class of its own (the
    labels sampler's option; the set's ``split`` is then ``<split>+rotations``).

    Raises:
        BenchmarkError: impossible N/K/Q for the split, ``count`` outside
            ``1..limits.MAX_EPISODES`` or ``seed`` outside ``0..limits.MAX_SEED``.
    """
    from benchmark.samplers import build_sampler

    if count < 1:
        raise BenchmarkError(f"evaluation needs at least 1 episode, got {count}")
    limits.check_at_most("evaluation episodes", count, limits.MAX_EPISODES)
    if not 0 <= seed <= limits.MAX_SEED:
        raise BenchmarkError(f"evaluation seed must be in 0..{limits.MAX_SEED}, got {seed}")
    sampler = build_sampler("labels", split, ways, shots, queries, device=resolve_device(device),
                            rotations=rotations)
    return EpisodeSet(
        sampler=sampler,
        seeds=episode_seeds(seed, count),
        ways=ways,
        shots=shots,
        queries=queries,
        dataset=split.dataset,
        split=evaluated_split(split.name, rotations=rotations),
        fingerprint=split.fingerprint,
    )


def evaluate(
    model: Embedder | EmbedFn,
    episodes: EpisodeSet | Sequence[Episode],
    head: str | Head = "prototype",
    batch_images: int = BATCH_IMAGES,
    progress: bool | None = False,
    precision: str = "float32",
) -> EvalResult:
    """Accuracy of ``head`` on ``model``'s representation over ``episodes``.

    Args:
        model: a Method (or any module with ``embed``), or a plain embedding function.
        episodes: an ``EpisodeSet`` or a list of same-shaped episodes.
        head: a registered head name or a head instance.
        batch_images: images per ``embed`` call; episodes are batched up to it.
        progress: show the episodes done (``benchmark.bars.progress_bar``: None a bar on a
            terminal or in a notebook, lines elsewhere; False nothing).
        precision: embed under this precision's autocast (``benchmark.precision``: float32,
            bfloat16, float16 on CUDA, or auto: bfloat16 where the hardware has it); the
            features are float32, and the frozen-embedding heads classify in float32 (the
            ``finetune`` and ``native`` heads run wholly under the autocast).

    Raises:
        BenchmarkError: no episodes, unusable weights, or a precision the model's device cannot
            run.
    """
    head_name = head if isinstance(head, str) else _head_name(head)
    head_obj: Head = HEADS.build(head) if isinstance(head, str) else head
    if len(episodes) == 0:
        raise BenchmarkError("evaluation needs at least 1 episode")
    check_weights(model)
    device = model_device(model)
    used = resolve_eval(precision, device).precision
    with eval_mode(model), torch.no_grad():
        rows = _split_rows(head_obj, episodes)
        if rows is not None:
            acc = _split_embedding_accuracies(model, episodes, head_obj, rows, batch_images,  # type: ignore[arg-type]
                                              used)
        else:
            bar = progress_bar(len(episodes), 0, f"eval {head_name}", progress, unit="episodes")
            with autocast(used, device):
                acc = _episode_accuracies(model, episodes, head_obj, batch_images, bar.update)
            bar.close()
    setting = episodes if isinstance(episodes, EpisodeSet) else episodes[0]
    mean, ci95 = mean_ci95(acc)
    return EvalResult(
        mean=mean,
        ci95=ci95,
        accuracies=acc,
        episodes=len(acc),
        ways=setting.ways,
        shots=setting.shots,
        queries=setting.queries,
        head=head_name,
        precision=used,
    )


def validator(episodes: EpisodeSet, head: str = "prototype",
              precision: str = "float32") -> Callable[[nn.Module], float]:
    """A ``train(validate=...)`` callable: mean accuracy of a method on fixed episodes, embedded
    in ``precision`` (``evaluate``'s)."""
    return lambda method: evaluate(method, episodes, head, precision=precision).mean


class RandomFloor(nn.Module):
    """What preflight checks the floor's heads against (``runner.checks``), keeping their
    refusal's wording; the floor itself is ``random_floor``, the ``pretrained`` method.

    Attributes:
        backbone: the untrained ``Backbone``.
    """

    def __init__(self, backbone: nn.Module) -> None:
        super().__init__()
        self.backbone = backbone

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Shape: x ``[B, C, H, W]`` → ``[B, D]``."""
        return self.backbone(x)


def build_encoder(backbone: str, image_shape: tuple[int, int, int], weights: str | None = None,
                  seed: int = 0, device: str = "cpu") -> nn.Module:
    """The one way an encoder is evaluated as it is: the ``pretrained`` method on ``backbone``
    for ``(C, H, W)`` images, with ``weights`` (None: the backbone's random initialisation from
    ``seed``; the global RNG is left as it was), on ``device``, in eval mode."""
    from benchmark.backbones import place_model
    from benchmark.methods import build_method

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        built = build_method("pretrained", backbone, tuple(image_shape), weights=weights)
    return place_model(built, resolve_device(device)).eval()


def random_floor(backbone: str, image_shape: tuple[int, int, int], seed: int = 0) -> nn.Module:
    """The random-init floor every representation must beat: an untrained ``backbone`` for
    ``(C, H, W)`` images, initialised from ``seed`` (``build_encoder`` with no weights)."""
    return build_encoder(backbone, image_shape, None, seed)


def evaluate_split(model: Embedder | EmbedFn, split: Split, ways: int, shots: int, queries: int,
                   episodes: int, head: str, seed: int, device: str = "cpu",
                   convert: InputConversion | None = None,
                   shape: tuple[int, int, int] | None = None,
                   progress: bool | None = False, precision: str = "float32",
                   rotations: bool = False) -> EvalResult:
    """The one evaluation path of ``api.evaluate`` and ``evaluate_checkpoint``: the split's
    images converted to ``shape`` (with ``convert``; ``EvalResult.input_conversion`` says
    what was done), ``episodes`` fixed episodes made on ``device`` (with ``rotations`` as
    classes: ``fixed_episodes``), ``head`` on ``model`` (``progress`` and ``precision`` as
    ``evaluate``'s)."""
    done = ""
    if convert is not None:
        split, done = convert_for(split, convert, tuple(shape))  # type: ignore[arg-type]
    test_episodes = fixed_episodes(split, ways, shots, queries, episodes, seed, device,
                                   rotations=rotations)
    result = evaluate(model, test_episodes, head, progress=progress, precision=precision)
    return replace(result, input_conversion=done, rotations=rotations)


def evaluate_checkpoint(
    checkpoint: Path,
    dataset: str,
    split: str | None = None,
    ways: int = 5,
    shots: int = 1,
    queries: int = 15,
    episodes: int = 600,
    head: str = "prototype",
    seed: int = 0,
    device: str = "auto",
    data_root: Path | None = None,
    convert: InputConversion | None = None,
    progress: bool | None = False,
    precision: str = "float32",
    rotations: bool = False,
) -> EvalResult:
    """Episodic evaluation of a checkpoint (what ``python -m benchmark eval`` runs; ``progress``
    and ``precision`` as ``evaluate``'s, ``rotations`` as ``fixed_episodes``').

    ``convert`` brings the dataset's images to the checkpoint's image shape first
    (``benchmark.data.convert``; ``EvalResult.input_conversion`` says what it did); without it
    the images must have that shape.

    Raises:
        BenchmarkError: unknown head or dataset, a truncated or corrupt checkpoint, a checkpoint
            built for other images than the dataset's (and no ``convert``), a conversion to
            another shape than the checkpoint's, impossible N/K/Q, a precision the device
            cannot run.
    """
    from benchmark.backbones import place_model
    from benchmark.data import dataset_info, load_split

    HEADS.get(head)
    target = resolve_device(device)
    resolve_eval(precision, target)  # refused before the checkpoint is read
    payload = load_checkpoint(Path(checkpoint))
    spec = ModelSpec.from_dict(payload["model_spec"])
    method = rebuild_method(payload, checkpoint)
    check_head(head, method, ways, shots, queries)  # e.g. native on a method without its own
    info = dataset_info(dataset, data_root)
    _check_shape(spec, tuple(info.image_shape), convert, dataset, checkpoint)  # before loading
    data = load_split(dataset, split or info.test_split, data_root)
    _check_shape(spec, data.image_shape, convert, dataset, checkpoint)
    return evaluate_split(place_model(method, target), data, ways, shots, queries, episodes,
                          head, seed, convert=convert, shape=tuple(spec.image_shape),
                          progress=progress, precision=precision, rotations=rotations)


def _check_shape(spec: ModelSpec, shape: tuple[int, ...], convert: InputConversion | None,
                 dataset: str, checkpoint: Path) -> None:
    """Images of ``shape`` that the checkpoint takes: of its shape, or converted to it."""
    if convert is not None:
        describe(tuple(shape), convert.target(tuple(spec.image_shape)))  # refuses what it cannot do
    elif tuple(shape) != tuple(spec.image_shape):
        have = "x".join(map(str, spec.image_shape))
        want = "x".join(map(str, shape))
        raise BenchmarkError(
            f"checkpoint {checkpoint} holds a {spec.method}/{spec.backbone} built for {have} images "
            f"(C x H x W), but dataset {dataset!r} has {want} images; add --convert auto to "
            f"evaluate on its images converted to {have}"
        )


def _episode_accuracies(
    model: Embedder | EmbedFn, episodes: EpisodeSet | Sequence[Episode], head: Head, batch_images: int,
    done: Callable[[int], Any] = lambda n: None,
) -> np.ndarray:
    """Per-episode accuracies, embedding the images of each episode (batched by ``batch_images``);
    ``done(n)`` after each batch of ``n`` episodes."""
    accuracies: list[torch.Tensor] = []
    with safe_points():
        for batch in _batches(episodes, batch_images):
            stop_point()
            predictions = head.predict(model, batch)
            labels = torch.stack([e.query_labels for e in batch]).cpu()
            accuracies.append((predictions == labels).double().mean(1))
            done(len(batch))
    return torch.cat(accuracies).numpy()


#: Episodes whose rows are gathered and classified together on the split-embedding path.
_ROW_CHUNK = 256


def _split_rows(head: Head, episodes: EpisodeSet | Sequence[Episode]) -> list[np.ndarray] | None:
    """The rows of ``sampler.images`` the episodes hold (chunks of ``_ROW_CHUNK`` episodes),
    when embedding every stored image once costs less than embedding every episode; else None.

    Only for frozen-embedding heads over an ``EpisodeSet`` whose sampler says which stored
    images an episode holds (``Sampler.image_rows``): in eval mode an image's embedding does
    not depend on what else is in its batch, so gathering rows of the embedded images gives
    the episodes' embeddings.
    """
    if not (isinstance(head, EmbeddingHead) and isinstance(episodes, EpisodeSet)):
        return None
    per_episode = episodes.ways * (episodes.shots + episodes.queries)
    if len(episodes.sampler.images) >= len(episodes) * per_episode:
        return None
    rows = []
    for start in range(0, len(episodes), _ROW_CHUNK):
        chunk = episodes.sampler.image_rows(episodes.seeds[start : start + _ROW_CHUNK])
        if chunk is None:  # its episodes are not rows of stored images
            return None
        rows.append(chunk)
    return rows


def _split_embedding_accuracies(
    model: Embedder | EmbedFn, episodes: EpisodeSet, head: EmbeddingHead, rows: list[np.ndarray],
    batch_images: int, precision: str = "float32",
) -> np.ndarray:
    """Per-episode accuracies from one embedding of every stored image of the sampler (under
    ``precision``'s autocast; the features and the classification are float32).

    ``rows`` (from ``_split_rows``) index the episodes' support and query images in
    ``sampler.images``; their embeddings are rows of the embedded images.
    """
    sampler = episodes.sampler
    device = model_device(model)
    embed = embed_fn(model)
    with autocast(precision, device):
        features = torch.cat([embed(unit_float(chunk.to(device))).float()
                              for chunk in sampler.images.split(batch_images)])
    n, k = episodes.ways, episodes.shots
    accuracies: list[torch.Tensor] = []
    for index in rows:
        count = len(index)
        chunk = features[torch.from_numpy(index).to(device)]  # [E, N*(K+Q), D]
        support_labels = sampler.labels(count, k).to(device)
        predictions = head.classify(chunk[:, : n * k], support_labels, chunk[:, n * k :], n).cpu()
        accuracies.append((predictions == sampler.labels(count, episodes.queries).cpu()).double().mean(1))
    return torch.cat(accuracies).numpy()


def _batches(episodes: EpisodeSet | Sequence[Episode], batch_images: int) -> Iterator[list[Episode]]:
    if isinstance(episodes, EpisodeSet):
        per_episode = episodes.ways * (episodes.shots + episodes.queries)
        yield from episodes.batches(max(1, batch_images // per_episode))
        return
    per_episode = len(episodes[0].support) + len(episodes[0].query)
    size = max(1, batch_images // per_episode)
    for start in range(0, len(episodes), size):
        yield list(episodes[start : start + size])


def _head_name(head: Head) -> str:
    for entry in HEADS.entries():
        if isinstance(head, entry.obj):  # type: ignore[arg-type]
            return entry.name
    return type(head).__name__


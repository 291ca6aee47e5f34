"""Time as a source of similarity: moving sequences made here, temporal episodes, methods on them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

from benchmark import cli, runner
from benchmark.data import load_split
from benchmark.cli.dataset_tools import dataset_rows
from benchmark.data import motion
from benchmark.data.motion import Motion, motion_paths, moving_sequences, sequence_count
from benchmark.data.sequences import frames_of
from benchmark.cli.dataset_show import MIN_SIDE
from benchmark.data.split import Split
from benchmark.errors import BenchmarkError
from benchmark.methods import build_method
from benchmark.samplers import build_sampler
from benchmark.spec.benchmark_spec import parse_spec

pytestmark = pytest.mark.usefixtures("one_thread")

SEQUENCES, FRAMES = 12, 10


def toy_sequences(count: int = SEQUENCES, frames: int = FRAMES) -> Split:
    """``count`` sequences of ``frames`` frames; frame t of sequence s carries s and t in two pixels."""
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (count * frames, 1, 8, 8), dtype=torch.uint8, generator=g)
    images[:, 0, 0, 0] = torch.arange(count).repeat_interleave(frames).to(torch.uint8)
    images[:, 0, 0, 1] = torch.arange(frames).repeat(count).to(torch.uint8)
    return Split("toy", "train", images, torch.arange(count).repeat_interleave(frames),
                 tuple(f"seq{s}" for s in range(count)))


def sequence_and_frame(x: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """The (sequence, frame) an episode's float images ``[M, 1, 8, 8]`` were made from."""
    pixels = (x[:, 0, 0, :2] * 255).round().to(torch.int64).numpy()
    return pixels[:, 0], pixels[:, 1]


def frames_by_class(episode) -> tuple[list[set[int]], list[list[int]]]:
    """Per class of the episode: the sequences its frames come from, and the frames."""
    seq_s, t_s = sequence_and_frame(episode.support)
    seq_q, t_q = sequence_and_frame(episode.query)
    labels = torch.cat([episode.support_labels, episode.query_labels]).numpy()
    seqs, ts = np.concatenate([seq_s, seq_q]), np.concatenate([t_s, t_q])
    return ([set(seqs[labels == c].tolist()) for c in range(episode.ways)],
            [ts[labels == c].tolist() for c in range(episode.ways)])


# ------------------------------------------------------------------ sequences made here


def small_omniglot() -> Split:
    return load_split("omniglot", "background").select_classes(list(range(12)), name="background")


@pytest.mark.parametrize("crossing", [False, True])
def test_sequences_are_a_pure_function_of_the_seed(crossing: bool) -> None:
    source = small_omniglot()
    first = moving_sequences(source, Motion(frames=8, crossing=crossing, seed=0))
    again = moving_sequences(source, Motion(frames=8, crossing=crossing, seed=0))
    other = moving_sequences(source, Motion(frames=8, crossing=crossing, seed=1))
    assert torch.equal(first.images, again.images) and first.fingerprint == again.fingerprint
    assert not torch.equal(first.images, other.images) and first.fingerprint != other.fingerprint
    assert first.images.shape == (12 * 8, 1, 28, 28) and first.num_classes == 12
    assert torch.equal(first.labels, torch.arange(12).repeat_interleave(8))


def test_fingerprint_covers_the_source_images_and_every_motion_parameter() -> None:
    source = small_omniglot()
    base = moving_sequences(source, Motion(frames=6))
    assert all(name.split("@")[0].startswith(c) for name, c in zip(base.class_names, source.class_names))
    changed = [Motion(frames=6, spin=2.0), Motion(frames=6, canvas=30), Motion(frames=6, scale=(0.6, 0.8))]
    prints = {moving_sequences(source, motion).fingerprint for motion in changed}
    assert base.fingerprint not in prints and len(prints) == len(changed)
    flipped = Split(source.dataset, source.name, source.images.flip(-1), source.labels, source.class_names)
    assert moving_sequences(flipped, Motion(frames=6)).fingerprint != base.fingerprint


def square_drawings() -> Split:
    """Two 28x28 drawings: a 6x6 square at the centre, and one 6 pixels right of it."""
    images = torch.zeros(2, 1, 28, 28, dtype=torch.uint8)
    images[0, 0, 11:17, 11:17] = 255
    images[1, 0, 11:17, 17:23] = 255
    return Split("squares", "train", images, torch.tensor([0, 1]), ("centre", "right"))


def centroids(frames: torch.Tensor) -> np.ndarray:
    """``[T, 2]`` intensity-weighted centres ``(x, y)`` of frames ``[T, 1, H, W]`` (pixel centres at +0.5)."""
    w = frames[:, 0].double().numpy()
    grid = np.arange(w.shape[-1]) + 0.5
    mass = w.sum((1, 2))
    return np.stack([(w * grid[None, None, :]).sum((1, 2)) / mass,
                     (w * grid[None, :, None]).sum((1, 2)) / mass], 1)


@pytest.mark.parametrize("seed", [0, 3])
def test_frames_are_the_drawing_moved_as_the_motion_parameters_say(seed: int) -> None:
    motion = Motion(frames=16, speed=(1.0, 2.5), tilt=40.0, spin=8.0, seed=seed)
    frames = frames_of(moving_sequences(square_drawings(), motion))
    paths, _, _ = motion_paths(2, motion, 28)
    # the centred square's centre follows the path's centre (bouncing inside the canvas)
    assert np.abs(centroids(frames[0]) - paths.centre[0]).max() < 0.2
    # the square 6 pixels right of the centre turns with the angle and moves in with the scale
    offset = 6 * paths.scale[1][:, None] * np.stack([np.cos(paths.angle[1]), -np.sin(paths.angle[1])], 1)
    assert np.abs(centroids(frames[1]) - (paths.centre[1] + offset)).max() < 0.3
    assert np.ptp(paths.centre[0], 0).max() > 3 and np.ptp(paths.angle[1]) > 0  # it did move


def test_the_path_bounces_inside_the_room_the_drawing_has() -> None:
    motion = Motion(frames=200, speed=(2.0, 3.0))
    paths, _, _ = motion_paths(50, motion, 28)
    half = 28 * paths.scale.max(1) / 2
    assert (paths.centre >= half[:, None, None] - 1e-9).all()
    assert (paths.centre <= 28 - half[:, None, None] + 1e-9).all()
    step = np.linalg.norm(np.diff(paths.centre, axis=1), axis=2)
    assert step.max() <= 3.0 + 1e-9  # a bounce folds a step, never lengthens it


def test_a_crossing_drawing_meets_the_first_at_the_middle_frame() -> None:
    motion = Motion(frames=9, crossing=True)
    first, second, _ = motion_paths(20, motion, 28)
    assert np.allclose(first.centre[:, 4], second.centre[:, 4])
    assert not np.allclose(first.centre[:, 0], second.centre[:, 0])


@pytest.mark.parametrize("name, value, message", [
    ("frames", 0, "frames must be an integer >= 2, got 0"),
    ("frames", 1, "frames must be an integer >= 2"),
    ("scale", (0.0, 0.5), "scale must be a range"),
    ("speed", (2.0, 1.0), "speed must be a range"),
    ("spin", -1.0, "spin must be in [0, 360)"),
])
def test_bad_motion_is_refused_with_one_line(name: str, value, message: str) -> None:
    with pytest.raises(BenchmarkError) as err:
        Motion(**{name: value})
    assert message in str(err.value) and "\n" not in str(err.value)


def test_registered_sequence_datasets_load_from_the_embedded_omniglot() -> None:
    split = load_split("moving_omniglot", "evaluation")
    assert (split.num_classes, len(split), split.image_shape) == (659, 659 * 20, (1, 28, 28))
    assert frames_of(split).shape == (659, 20, 1, 28, 28)
    assert load_split("moving_omniglot", "evaluation") is split  # made once per process
    assert load_split("omniglot", "evaluation").num_classes == 659  # its stills stay its own


@pytest.mark.parametrize("per_class", [1, 2, 5])
def test_the_sequence_count_is_what_moving_sequences_makes(per_class: int) -> None:
    counts = [3, 1, 2, 4]  # images per class, some below per_class
    labels = torch.arange(4).repeat_interleave(torch.tensor(counts))
    images = torch.randint(0, 256, (len(labels), 1, 6, 6), dtype=torch.uint8,
                           generator=torch.Generator().manual_seed(0))
    source = Split("toy", "train", images, labels, tuple("abcd"))
    motion = Motion(frames=3, canvas=8, per_class=per_class)
    assert sequence_count(counts, motion) == moving_sequences(source, motion).num_classes


def test_listing_datasets_counts_sequences_without_generating_frames(
        monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    def no_frames(*args, **kwargs):
        raise AssertionError("datasets list generated frames")

    monkeypatch.setattr(motion, "_render", no_frames)
    rows = {row["name"]: row for row in dataset_rows(None)}
    for name in ("moving_omniglot", "moving_omniglot_crossing"):
        assert (rows[name]["classes"], rows[name]["images"]) == (964 + 659, (964 + 659) * 20)
    assert cli.main(["datasets", "list"]) == 0 and "moving_omniglot" in capsys.readouterr().out


def test_datasets_show_renders_a_strip_of_frames(tmp_path: Path, capsys) -> None:
    assert cli.main(["datasets", "show", "moving_omniglot", "--split", "evaluation", "--out",
                     str(tmp_path), "--classes", "3", "--sampler", "temporal"]) == 0
    strip = Image.open(tmp_path / "moving_omniglot_evaluation_frames.png")
    side = 28 * -(-MIN_SIDE // 28)
    assert strip.size == (20 * (side + 2) + 2, 3 * (side + 2) + 2)  # 3 sequences x 20 frames
    assert (tmp_path / "moving_omniglot_evaluation_temporal_views.png").is_file()


# ------------------------------------------------------------------ temporal episodes


@pytest.mark.parametrize("window, stride, shots, queries",
                         [(3, 1, 1, 2), (7, 3, 1, 2), (10, 2, 2, 3), (5, 1, 4, 1)])
def test_episodes_are_frames_of_one_sequence_within_a_window(window, stride, shots, queries) -> None:
    sampler = build_sampler("temporal", toy_sequences(), 4, shots, queries, window=window, stride=stride)
    for seed in range(25):
        episode = sampler.sample(seed)
        sequences, frames = frames_by_class(episode)
        assert all(len(s) == 1 for s in sequences) and len(set.union(*sequences)) == 4
        assert episode.class_ids.tolist() == [s.pop() for s in sequences]
        for ts in frames:
            assert len(set(ts)) == shots + queries  # distinct frames
            assert max(ts) - min(ts) <= window - 1
            assert all((t - min(ts)) % stride == 0 for t in ts)
        rows = sampler.image_rows([seed])[0]
        assert np.array_equal(rows % FRAMES, np.concatenate(
            [sequence_and_frame(episode.support)[1], sequence_and_frame(episode.query)[1]]))


@pytest.mark.parametrize("window, margin", [(2, 0), (3, 2), (4, 2), (2, 5)])
def test_negatives_are_frames_of_the_same_sequence_beyond_the_margin(window, margin) -> None:
    sampler = build_sampler("temporal", toy_sequences(), 6, 1, 1, window=window, negatives=True,
                            margin=margin)
    gaps = set()
    for seed in range(40):
        episode = sampler.sample(seed)
        sequences, frames = frames_by_class(episode)
        for i in range(0, 6, 2):  # classes 2i and 2i+1: two windows of one sequence
            assert sequences[i] == sequences[i + 1]
            assert int(episode.class_ids[i]) == int(episode.class_ids[i + 1]) == next(iter(sequences[i]))
            for ts in (frames[i], frames[i + 1]):
                assert max(ts) - min(ts) <= window - 1
            gap = min(abs(a - b) for a in frames[i] for b in frames[i + 1])
            assert gap > margin
            gaps.add(gap)
        assert len({next(iter(s)) for s in sequences}) == 3
    assert min(gaps) <= margin + window  # the closest allowed windows are drawn too


def test_augmented_frames_are_views_of_the_frames() -> None:
    split = load_split("moving_omniglot", "evaluation")
    plain = build_sampler("temporal", split, 4, 1, 2, window=4)
    views = build_sampler("temporal", split, 4, 1, 2, window=4, augment={"erase_p": 0.0})
    support_plain = build_sampler("temporal", split, 4, 1, 2, window=4, augment=True, augment_support=False)
    a, b, c = plain.sample(5), views.sample(5), support_plain.sample(5)
    assert torch.equal(a.class_ids, b.class_ids) and b.support.shape == a.support.shape
    assert not torch.equal(a.query, b.query) and 0 <= float(b.query.min()) <= float(b.query.max()) <= 1
    assert views.image_rows([5]) is None
    assert torch.equal(c.support, a.support) and not torch.equal(c.query, a.query)


@pytest.mark.parametrize("options, ways, message", [
    ({"window": 11}, 4, "window 11 is longer than the 10 frames of the sequences of toy/train"),
    ({"window": 0}, 4, "window must be an integer >= 1, got 0"),
    ({"stride": 0}, 4, "stride must be an integer >= 1, got 0"),
    ({"window": 4, "stride": 2}, 4, "a window of 4 frames at stride 2 holds 2 frames, fewer than "
                                    "shots+queries K+Q=3"),
    ({"window": 1, "negatives": True, "margin": 10}, 4, "margin 10 is not shorter than the 10 frames"),
    ({"window": 3, "negatives": True, "margin": 5}, 4, "two windows of 3 frames more than 5 frames "
                                                       "apart need 11 frames"),
    ({"window": 3, "negatives": True}, 3, "with negatives, ways N=3 must be even"),
    ({"margin": 2}, 4, "margin applies with negatives: true only"),
    ({"negatives": "yes"}, 4, "negatives must be true or false"),
    ({}, 13, "ways N=13 needs 13 sequences, more than the 12"),
    ({"augment": "glyphs"}, 4, "augment must be true, false or a mapping"),
    ({"preset": "glyphs"}, 4, "preset applies with augment only"),
    ({"augment": {"nope": 1}}, 4, "nope"),
    ({"frames": 3}, 4, "temporal sampler: unknown option(s) frames"),
])
def test_bad_options_are_refused_with_one_line(options: dict, ways: int, message: str) -> None:
    with pytest.raises(BenchmarkError) as err:
        build_sampler("temporal", toy_sequences(), ways, 1, 2, **options)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_sequences_of_unequal_length_are_refused() -> None:
    split = Split("toy", "train", torch.zeros(5, 1, 8, 8, dtype=torch.uint8),
                  torch.tensor([0, 0, 0, 1, 1]), ("a", "b"))
    with pytest.raises(BenchmarkError, match="not sequences of one length"):
        build_sampler("temporal", split, 2, 1, 1)


# ------------------------------------------------------------------ methods on temporal episodes


def temporal_spec(method: str, **sampler_options) -> dict:
    """Two steps of ``method`` on moving Omniglot temporal episodes, two test episodes."""
    return {
        "name": "temporal", "device": "cpu",
        "train": {"dataset": "moving_omniglot", "split": "background"},
        "trainer": {"steps": 2, "checkpoint_every": 2},
        "methods": [{"method": method, "backbone": "conv4", "sampler": "temporal",
                     "sampler_options": sampler_options, "ways": 8, "shots": 1, "queries": 1}],
        "eval": {"datasets": [{"dataset": "omniglot", "split": "evaluation"}],
                 "settings": [{"ways": 5, "shots": 1}], "episodes": 2, "queries": 1},
    }


@pytest.mark.parametrize("method, options", [
    ("simclr", {"window": 4}),
    ("protoclr", {"window": 4, "negatives": True, "margin": 4, "augment": True}),
])
def test_a_method_trains_on_temporal_episodes_end_to_end(method: str, options: dict,
                                                         tmp_path: Path) -> None:
    spec = parse_spec(temporal_spec(method, **options))
    runner.preflight(spec, None)
    result = runner.run_job(spec, method, 0, runs_dir=tmp_path)
    assert result.run is not None and result.run.steps == 2
    assert [(r.method, r.ways, r.shots) for r in result.rows] == [(method, 5, 1)]
    assert 0 <= result.rows[0].accuracy <= 1


@pytest.mark.parametrize("method", ["simclr", "protoclr", "moco", "byol", "psco", "triplet", "infonce"])
def test_every_instance_method_takes_a_temporal_step(method: str) -> None:
    sampler = build_sampler("temporal", load_split("moving_omniglot", "evaluation"), 8, 1, 1, window=3,
                            negatives=True, margin=2)
    torch.manual_seed(0)
    model = build_method(method, "conv4", (1, 28, 28))
    out = model(sampler.sample(0))
    out["loss"].backward()
    assert torch.isfinite(out["loss"])
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())


def test_a_bad_temporal_option_in_a_spec_exits_2_with_one_line(tmp_path: Path, capsys) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(temporal_spec("simclr", window=21)))
    store = tmp_path / "store.sqlite"
    assert cli.main(["run", str(path), "--plan", "--store", str(store)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and "methods[0]" in err[0]
    assert "window 21 is longer than the 20 frames" in err[0]
    assert not store.exists()

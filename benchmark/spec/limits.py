"""Upper bounds on every count a user gives that sizes memory or time, in one place.

Each is far above any real use and far below what would exhaust a machine: a spec, a command
line or an API call beyond one is refused with one line before any work, instead of ending in
a ``MemoryError`` or an overflow deep inside numpy or torch.
"""

from __future__ import annotations

from benchmark.errors import BenchmarkError

#: N, K, Q of one episode (classes and examples per class).
MAX_WAYS = 100_000
MAX_SHOTS = 10_000
MAX_QUERIES = 10_000
#: Bytes of one episode's images as float32 (support + query), e.g. 4096 images of 3x224x224.
MAX_EPISODE_BYTES = 4 << 30
#: Test or validation episodes of one evaluation cell.
MAX_EPISODES = 1_000_000
#: Training steps of one run.
MAX_STEPS = 1_000_000_000
#: Seeds (training and evaluation): what torch, numpy and the samplers all accept.
MAX_SEED = 2**63 - 1
#: Side in pixels of an image a dataset is prepared at.
MAX_IMAGE_SIDE = 4096
#: Parameters of one model (4 GiB of float32 weights).
MAX_PARAMETERS = 1 << 30


def check_at_most(what: str, value: int, limit: int) -> int:
    """``value``; a BenchmarkError naming ``what`` when it exceeds ``limit``."""
    if value > limit:
        raise BenchmarkError(f"{what} must be at most {limit}, got {value}")
    return value


def check_episode_bytes(ways: int, shots: int, queries: int,
                        image_shape: tuple[int, int, int]) -> None:
    """Refuse an N-way K-shot Q-query episode whose float32 images exceed ``MAX_EPISODE_BYTES``."""
    channels, height, width = image_shape
    size = ways * (shots + queries) * channels * height * width * 4
    if size > MAX_EPISODE_BYTES:
        raise BenchmarkError(
            f"a {ways}-way {shots}-shot {queries}-query episode of {channels}x{height}x{width} "
            f"images takes {size / 2**30:.1f} GiB, more than the {MAX_EPISODE_BYTES >> 30} GiB "
            "an episode may take")

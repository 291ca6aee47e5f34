"""Datasets: a registry of builders, real sources, the prepared uint8 cache, the embedded Omniglot.

Public API::

    DATASETS                                   # Registry of dataset builder classes
    resolve_data_root(root) -> Path
    load_split(dataset, split, data_root=None) -> Split
    dataset_info(name, data_root=None) -> DatasetInfo   # .splits .train_split .test_split ...

Command line::

    python -m benchmark datasets list
    python -m benchmark datasets prepare omniglot --source ../shared/datasets/omniglot
    python -m benchmark datasets prepare cifar10 --source CIFAR-10-images.tar.gz   # or cifar-10-python.tar.gz
    python -m benchmark datasets prepare imagefolder:NAME --source DIR [--image-size H W]
    python -m benchmark datasets prepare mnist            # no --source: official download
    python -m benchmark datasets embed                    # rewrite embedded/omniglot28.npz
"""

from benchmark.data import cifar, imagefolder, learn2learn_sets, mnist, omniglot  # noqa: F401  (register)
from benchmark.data import sequences  # noqa: F401  (register the moving sequences)
from benchmark.data.builder import DATASETS, DatasetInfo
from benchmark.data.loading import dataset_info, load_split
from benchmark.data.root import resolve_data_root
from benchmark.data.split import Split

__all__ = ["DATASETS", "DatasetInfo", "Split", "dataset_info", "load_split", "resolve_data_root"]

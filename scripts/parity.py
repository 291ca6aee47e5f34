"""Parity of our methods with reference code: SimCLR, MoCo and BYOL against models assembled
from lightly's own modules; MAML and first-order MAML against learn2learn's ``maml_omniglot.py``
training loop.

Both sides start from the same Conv-4 weights, train on the same augmentation episodes (our
``augment`` sampler, Omniglot Vinyals train, seeds ``episode_seed(seed, step)``) for the same
steps with the same optimiser (Adam, constant lr), and are evaluated on the same fixed test
episodes (Vinyals test, prototype head). The reference side is assembled as lightly's examples
(``examples/pytorch/{simclr,moco,byol}.py``) assemble it, with the heads scaled from a
ResNet-18's 512-d features to Conv-4's 64-d; lightly is imported, never copied:

    pip install --no-deps --target /tmp/parity/site "lightly==1.6.0"
    PYTHONPATH=/tmp/parity/site:. .venv/bin/python scripts/parity.py byol --steps 150

The MAML pairs (``maml``, ``fomaml``) train both sides on the same 5-way 1-shot 1-query
episodes of our ``labels`` sampler (rotations as classes), Adam 0.003, inner lr 0.5, one inner
step, ``--meta-batch`` tasks a step (32, as learn2learn's example; step ``s`` draws the seeds
``step_seeds(seed, s, meta_batch)`` on both sides); our side runs ``--inner-loop`` (learn2learn's
sequential clone/adapt or the vectorised ``torch.func`` path); the reference loop is
learn2learn's example (``l2l.algorithms.MAML``, ``clone()``, ``adapt()`` on the support, the
query loss's ``backward()`` per task, the gradients divided by the meta-batch, one Adam step)
around a copy of our initial network; both are evaluated as our MAML module (the reference's
weights loaded into it): prototype head and the ``native`` head (3 first-order steps).

``--reference-views joint`` runs the reference's online and target networks on both views in
one batch (as ours does) instead of one view at a time (lightly's examples): with BatchNorm in
the backbone and heads, the batch a forward pass sees is part of the method.
Prints one JSON object per run: accuracies (mean, 95% CI) and training seconds of both sides.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Callable

import torch
from torch import nn

from benchmark.api import evaluate
from benchmark.data.loading import load_split
from benchmark.methods import ModelSpec
from benchmark.samplers.base import build_sampler
from benchmark.train import TrainConfig, episode_seed, seed_everything, step_seeds, train

#: Our side's method and parameters, configured to the reference's architecture.
OURS = {
    "simclr": ("simclr", {"projector": "mlp_bn_out", "projector_hidden": 64, "projector_dim": 128,
                          "temperature": 0.5}),
    "moco": ("moco", {"projector": "mlp", "projector_hidden": 64, "projector_dim": 128,
                      "temperature": 0.2, "queue_size": 4096, "momentum": 0.996,
                      "momentum_schedule": "cosine", "symmetric": False}),
    "byol": ("byol", {"projector": "mlp_bn", "projector_hidden": 128, "projector_dim": 64,
                      "predictor_hidden": 128, "momentum": 0.996, "momentum_schedule": "cosine"}),
    "maml": ("maml", {"ways": 5, "inner_steps": 1, "inner_lr": 0.5, "eval_steps": 3}),
    "fomaml": ("maml", {"ways": 5, "inner_steps": 1, "inner_lr": 0.5, "eval_steps": 3,
                        "first_order": True}),
}
#: The learning rate of both sides: learn2learn's meta_lr for the MAML pairs, else Adam 1e-3.
LR = {"maml": 0.003, "fomaml": 0.003}
MAML_PAIRS = ("maml", "fomaml")


class Reference(nn.Module):
    """A lightly-assembled model: ``backbone`` → ``head`` (→ ``predictor``), with momentum
    copies of backbone and head where the method has a target network."""

    def __init__(self, backbone: nn.Module, head: nn.Module, predictor: nn.Module | None,
                 momentum: bool) -> None:
        from lightly.models.utils import deactivate_requires_grad

        super().__init__()
        self.backbone, self.head, self.predictor = backbone, head, predictor
        self.backbone_momentum = copy.deepcopy(backbone) if momentum else None
        self.head_momentum = copy.deepcopy(head) if momentum else None
        if momentum:
            deactivate_requires_grad(self.backbone_momentum)
            deactivate_requires_grad(self.head_momentum)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.head(self.backbone(x).flatten(1))
        return self.predictor(z) if self.predictor is not None else z

    def forward_momentum(self, x: torch.Tensor) -> torch.Tensor:
        return self.head_momentum(self.backbone_momentum(x).flatten(1)).detach()

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return self.backbone(x).flatten(1)


class WayNetwork(nn.Module):
    """``(x, ways) -> logits`` of a backbone and our N-way classifier: the one module
    learn2learn's loop clones (its parameters are the MAML method's, trained in place)."""

    def __init__(self, backbone: nn.Module, classifier: nn.Module) -> None:
        super().__init__()
        self.backbone, self.classifier = backbone, classifier

    def forward(self, x: torch.Tensor, ways: int) -> torch.Tensor:
        return self.classifier(self.backbone(x), ways)


def _pair(fn: Callable[[torch.Tensor], torch.Tensor], x0: torch.Tensor, x1: torch.Tensor,
          joint: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """``fn`` of both views: one batch (``joint``) or one view at a time (lightly's examples)."""
    if joint:
        return fn(torch.cat([x0, x1])).chunk(2)
    return fn(x0), fn(x1)


def reference_step(name: str, model: Reference, criterion: nn.Module, x0: torch.Tensor,
                   x1: torch.Tensor, step: int, steps: int, joint: bool) -> torch.Tensor:
    """The loss of one step of lightly's example loop for ``name`` (momentum updated first)."""
    from lightly.models.utils import update_momentum
    from lightly.utils.scheduler import cosine_schedule

    if model.backbone_momentum is not None:
        m = cosine_schedule(step, steps, 0.996, 1)
        update_momentum(model.backbone, model.backbone_momentum, m=m)
        update_momentum(model.head, model.head_momentum, m=m)
    if name == "simclr":
        z0, z1 = _pair(model, x0, x1, joint)
        return criterion(z0, z1)
    if name == "moco":
        return criterion(model(x0), model.forward_momentum(x1))
    p0, p1 = _pair(model, x0, x1, joint)
    z0, z1 = _pair(model.forward_momentum, x0, x1, joint)
    return 0.5 * (criterion(p0, z1) + criterion(p1, z0))


def build_reference(name: str, backbone: nn.Module) -> tuple[Reference, nn.Module]:
    """lightly's heads and loss for ``name``, over a copy of ``backbone``."""
    from lightly.loss import NegativeCosineSimilarity, NTXentLoss
    from lightly.models.modules import (BYOLPredictionHead, BYOLProjectionHead,
                                        MoCoProjectionHead, SimCLRProjectionHead)

    backbone = copy.deepcopy(backbone)
    if name == "simclr":
        return Reference(backbone, SimCLRProjectionHead(64, 64, 128), None, False), NTXentLoss(0.5)
    if name == "moco":
        return (Reference(backbone, MoCoProjectionHead(64, 64, 128), None, True),
                NTXentLoss(0.2, memory_bank_size=(4096, 128)))
    return (Reference(backbone, BYOLProjectionHead(64, 128, 64), BYOLPredictionHead(64, 128, 64), True),
            NegativeCosineSimilarity())


def accuracy(model: object, seed: int, episodes: int, native: bool) -> dict[str, list[float]]:
    """Accuracy (mean, 95% CI, %) on Vinyals test: prototype head at 5w1s and 5w5s, and the
    method's own adaptation (``native``) at 5w1s where it has one."""
    cells = [("prototype", 1), ("prototype", 5)] + ([("native", 1)] if native else [])
    out = {}
    for head, shots in cells:
        result = evaluate(model, "omniglot", 5, shots, split="vinyals_test", episodes=episodes,
                          head=head, seed=seed)
        key = f"5w{shots}s" if head == "prototype" else f"{head} 5w{shots}s"
        out[key] = [round(100 * result.mean, 2), round(100 * result.ci95, 2)]
    return out


def train_maml_reference(network: nn.Module, sampler: object, first_order: bool, steps: int,
                         seed: int, meta_batch: int) -> None:
    """learn2learn's ``maml_omniglot.py`` loop on ``network`` in place: ``(x, ways) -> logits``,
    ``meta_batch`` tasks a step, one inner step at lr 0.5, gradients averaged, Adam 0.003."""
    import learn2learn as l2l

    maml = l2l.algorithms.MAML(network, lr=0.5, first_order=first_order)
    optimizer = torch.optim.Adam(maml.parameters(), LR["maml"])
    loss = nn.CrossEntropyLoss()
    maml.train()
    for step in range(steps):
        optimizer.zero_grad()
        for task_seed in step_seeds(seed, step, meta_batch):
            episode = sampler.sample(task_seed)
            learner = maml.clone()
            learner.adapt(loss(learner(episode.support, episode.ways), episode.support_labels))
            loss(learner(episode.query, episode.ways), episode.query_labels).backward()
        for parameter in maml.parameters():
            if parameter.grad is not None:
                parameter.grad.div_(meta_batch)
        optimizer.step()


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("method", choices=sorted(OURS), help="which method pair to run")
    parser.add_argument("--steps", type=int, default=150, help="training steps of each side")
    parser.add_argument("--batch", type=int, default=64,
                        help="images a step, two views each (not the MAML pairs)")
    parser.add_argument("--meta-batch", type=int, default=32,
                        help="MAML pairs: tasks a step (learn2learn's example: 32)")
    parser.add_argument("--inner-loop", choices=["sequential", "vectorised"], default="sequential",
                        help="MAML pairs: our side's inner loop")
    parser.add_argument("--seed", type=int, default=0, help="initial weights, episodes, test episodes")
    parser.add_argument("--episodes", type=int, default=200, help="test episodes per setting")
    parser.add_argument("--reference-views", choices=["separate", "joint"], default="separate",
                        help="reference forward passes: one view at a time (lightly) or both at once")
    parser.add_argument("--ours-views", choices=["joint", "separate"], default="joint",
                        help="our momentum methods' view_batching")
    parser.add_argument("--sides", default="ours,reference", help="which sides to run")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    split = load_split("omniglot", "vinyals_train")
    meta = args.method in MAML_PAIRS
    sampler = (build_sampler("labels", split, 5, 1, 1, rotations=True) if meta
               else build_sampler("augment", split, args.batch, 1, 1))
    name, params = OURS[args.method]
    if name in ("moco", "byol"):
        params = {**params, "view_batching": args.ours_views}
    if meta:
        params = {**params, "inner_loop": args.inner_loop}
    seed_everything(args.seed)
    ours = ModelSpec(name, "conv4", split.image_shape, params).build()
    initial = copy.deepcopy(ours)
    lr = LR.get(args.method, 1e-3)
    report: dict[str, object] = {"method": args.method, "steps": args.steps, "seed": args.seed}
    report |= ({"meta_batch": args.meta_batch, "inner_loop": args.inner_loop} if meta
               else {"batch": args.batch, "reference_views": args.reference_views,
                     "ours_views": args.ours_views})
    sides = args.sides.split(",")
    if "ours" in sides:
        config = TrainConfig(steps=args.steps, lr=lr, seed=args.seed, channels_last=False,
                             meta_batch=args.meta_batch if meta else 1, progress=False,
                             tensorboard=False, checkpoint_every=args.steps)
        start = time.process_time()
        with TemporaryDirectory() as run_dir:
            train(ours, sampler, config, Path(run_dir))
        report["ours"] = {**accuracy(ours.eval(), args.seed, args.episodes, meta),
                          "cpu_s": round(time.process_time() - start)}
    if "reference" in sides:
        start = time.process_time()
        if meta:
            model: nn.Module = copy.deepcopy(initial)
            train_maml_reference(WayNetwork(model.backbone, model.classifier), sampler,
                                 params.get("first_order", False), args.steps, args.seed,
                                 args.meta_batch)
        else:
            torch.manual_seed(args.seed)
            model, criterion = build_reference(args.method, initial.backbone)
            optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=lr)
            model.train()
            for step in range(args.steps):
                episode = sampler.sample(episode_seed(args.seed, step))
                x0, x1 = episode.support[episode.query_labels * episode.shots], episode.query
                loss = reference_step(args.method, model, criterion, x0, x1, step, args.steps,
                                      args.reference_views == "joint")
                loss.backward()
                optimizer.step()
                optimizer.zero_grad()
        report["reference"] = {**accuracy(model.eval(), args.seed, args.episodes, meta),
                               "cpu_s": round(time.process_time() - start)}
    print(json.dumps(report))


if __name__ == "__main__":
    main(sys.argv[1:])

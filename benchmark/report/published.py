"""Published accuracies, and the "published vs ours" table of a benchmark's cells.

The matching rule, all data: a published number ``P`` is set against our cell ``C`` (of a
method registered as ``M``, on backbone ``B``) when

- ``(P.backbone, P.train_dataset, P.eval_dataset, P.eval_split, P.ways, P.shots, P.head)``
  equals ``(B, C.train_dataset, C.eval_dataset, base_split(C.eval_split), C.ways, C.shots,
  C.head)`` (the dataset's split, whatever was done to it: ``benchmark.split_names``), and
- ``P.supervision`` is the cell's supervision ``S``: labels, or none, as its rows store it
  (``ResultRow.supervision``, from the method's episode sampler); for rows stored before that
  column, from the spec when it is known, else ``SUPERVISION[M]``.

Among those, ``P`` is the **same method** when ``P.family`` is ``FAMILY[M, S, V]``, with ``V``
the variant the cell's rows store (``ResultRow.variant``, ``Method.variant``: "" for the method
as published), otherwise a **reference** (another method trained the same way, e.g. UMTRA
beside our SimCLR): MAML on labelled episodes is MAML, first-order MAML on them is first-order
MAML (Finn et al. publish both), MAML on augmented views (no labels) is UMTRA. A method whose
supervision is unknown is compared with nothing.

Each comparison also says whether our test episodes were made as the paper's were
(``Published.test_rotations``: Omniglot papers test on the test characters' rotations as
classes of their own, or not, or it is not verified here); a cell of the other protocol is
still compared, with the difference said beside it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence

from benchmark.report.tables import TransferTable
from benchmark.split_names import base_split, has_rotations
from benchmark.store import ResultRow

#: (our registered method, its supervision, its variant) → the published family it
#: reimplements; a combination not listed reimplements none (its cells show references only).
FAMILY = {("protonet", "labels", ""): "protonet", ("protoclr", "none", ""): "protoclr",
          ("psco", "none", ""): "psco", ("maml", "labels", ""): "maml",
          ("maml", "labels", "first_order"): "fomaml", ("maml", "none", ""): "umtra"}
#: Our registered method → how it is trained when the spec is not known: with labels, or
#: without (``none``).
SUPERVISION = {"protonet": "labels", "protoclr": "none", "simclr": "none", "moco": "none",
               "byol": "none", "psco": "none"}


@dataclass(frozen=True)
class Published:
    """One published accuracy (percent) in one setting, with the training budget it was
    published at (``budget``, as the paper and the authors' code state it; see
    ``tasks/reproduce/``)."""

    method: str
    family: str
    supervision: str
    backbone: str
    train_dataset: str
    eval_dataset: str
    eval_split: str
    ways: int
    shots: int
    accuracy: float
    citation: str
    head: str = "prototype"  # the head of ours the number is set against
    budget: str = "not recorded here"
    #: the paper's test classes: with each rotation (90°, 180°, 270°) a class of its own
    #: (True), without (False), or not verified here (None)
    test_rotations: bool | None = None

    def protocol_note(self, eval_split: str) -> str:
        """How our cell on ``eval_split`` (``vinyals_test``, ``vinyals_test+rotations``) was
        tested against the paper: "" for the same protocol, else what differs."""
        if self.test_rotations is None:
            return "paper's test rotations not verified"
        if has_rotations(eval_split) == self.test_rotations:
            return ""
        return ("paper tests rotations as classes too" if self.test_rotations
                else "paper tests without rotations")


def _entries(method: str, family: str, supervision: str, citation: str,
             settings: Mapping[tuple[int, int], float],
             heads: Sequence[str] = ("prototype",),
             budget: str = "not recorded here",
             test_rotations: bool | None = None) -> list[Published]:
    """Omniglot (Vinyals et al. split, 28x28) Conv-4 numbers of one paper, set against our
    cells of ``heads``."""
    return [Published(method, family, supervision, "conv4", "omniglot", "omniglot",
                      "vinyals_test", ways, shots, accuracy, citation, head, budget,
                      test_rotations)
            for (ways, shots), accuracy in settings.items() for head in heads]


# Test rotations, as the authors' code makes its test episodes: jakesnell/prototypical-networks
# (data/omniglot/splits/vinyals/test.txt lists each character at rot000..rot270); cbfinn/maml
# (data_generator.py rotates every task's classes, "# and FLAGS.train" commented out); PsCo
# (alinlab/PsCo datasets.py, Omniglot: four rotations as classes in every split); ProtoTransfer
# (torchmeta's omniglot helper, whose default class augmentation Rotation([90, 180, 270])
# applies to the meta-test split too). UMTRA, C3LR and Meta-GMVAE: not verified here.


PUBLISHED: tuple[Published, ...] = tuple([
    *_entries("ProtoNet", "protonet", "labels", "Snell et al. 2017",
              {(5, 1): 98.8, (5, 5): 99.7, (20, 1): 96.0, (20, 5): 98.9},
              budget="early-stopped (≤ 1,000,000 60-way episodes; stop not published), GPU",
              test_rotations=True),
    *_entries("MAML", "maml", "labels", "Finn, Abbeel & Levine 2017",
              {(5, 1): 98.7, (5, 5): 99.9, (20, 1): 95.8, (20, 5): 98.9}, heads=("native",),
              budget="40,000 meta-iterations × 32 tasks (5-way) or × 16 (20-way), GPU",
              test_rotations=True),
    *_entries("first-order MAML", "fomaml", "labels", "Finn, Abbeel & Levine 2017 (Table 1)",
              {(5, 1): 98.3, (5, 5): 99.2, (20, 1): 89.4, (20, 5): 97.9}, heads=("native",),
              budget="40,000 meta-iterations × 32 tasks (5-way) or × 16 (20-way), GPU",
              test_rotations=True),
    *_entries("UMTRA", "umtra", "none", "Khodadadeh, Bölöni & Shah 2019",
              {(5, 1): 83.8, (5, 5): 95.4}, heads=("prototype", "native"),
              budget="not published (MAML's 40,000 × 32 tasks as the bound), GPU"),
    *_entries("ProtoTransfer (ProtoCLR)", "protoclr", "none", "Medina, Devos & Grossglauser 2020",
              {(5, 1): 88.0, (5, 5): 96.5},
              budget="early-stopped (≤ 1,000,000 iterations; stop not published), GPU",
              test_rotations=True),
    *_entries("C3LR", "c3lr", "none", "Shirekar & Jamali-Rad 2022",
              {(5, 1): 89.3, (5, 5): 97.4}),
    *_entries("Meta-GMVAE", "meta-gmvae", "none", "Lee et al. 2021",
              {(5, 1): 94.9, (5, 5): 97.1}),
    *_entries("PsCo", "psco", "none", "Jang et al. 2023 (ICLR)",
              {(5, 1): 96.4, (5, 5): 99.1},
              budget="~150,000 steps of 256 images (400 epochs), GPU",
              test_rotations=True),
])


@dataclass(frozen=True)
class Comparison:
    """One of our cells against one published number (accuracies in percent)."""

    ours: str
    setting: str
    mean: float
    ci95: float
    published: Published
    same_method: bool
    protocol: str = ""  # Published.protocol_note of our cell: "" when tested as the paper

    @property
    def gap(self) -> float:
        """Ours minus published, in points."""
        return self.mean - self.published.accuracy


def trained_with(rows: Iterable[ResultRow],
                 fallback: Mapping[str, str] | None = None) -> dict[str, str]:
    """Method label → how it was trained (labels/none), as its rows store it; ``fallback``
    (e.g. from the spec) for labels whose rows are all older than ``ResultRow.supervision``."""
    stored = {row.method: row.supervision for row in rows if row.supervision}
    return {**(fallback or {}), **stored}


def variants_of(rows: Iterable[ResultRow]) -> dict[str, str]:
    """Method label → the variant its rows store (``ResultRow.variant``)."""
    return {row.method: row.variant for row in rows}


def compare(table: TransferTable, methods: Mapping[str, tuple[str, str]],
            published: Sequence[Published] = PUBLISHED,
            supervision: Mapping[str, str] | None = None,
            variants: Mapping[str, str] | None = None) -> list[Comparison]:
    """Every (our cell, published number) pair the rule matches; ``methods`` maps a method
    label of the table to its (registered method, backbone), ``supervision`` a label to how
    it was trained (``trained_with``; default ``SUPERVISION`` of its method), ``variants`` a
    label to its variant (``variants_of``; default "")."""
    out = []
    for _, cell in table.cells.iterrows():
        name, backbone = methods.get(cell["method"], ("", ""))
        trained = (supervision or {}).get(cell["method"]) or SUPERVISION.get(name)
        family = FAMILY.get((name, trained or "", (variants or {}).get(cell["method"], "")))
        ours = (backbone, cell["train_dataset"], cell["eval_dataset"], cell["eval_split"],
                int(cell["ways"]), int(cell["shots"]), cell["head"])
        for entry in matching(ours, trained, published):
            out.append(Comparison(
                cell["method"], f"{cell['eval_dataset']}/{cell['eval_split']} "
                f"{cell['ways']}w{cell['shots']}s {cell['head']}",
                100 * cell["mean"], 100 * cell["ci95"], entry, entry.family == family,
                entry.protocol_note(cell["eval_split"])))
    return sorted(out, key=lambda c: (c.ours, c.setting, not c.same_method, c.published.method))


def matching(cell: tuple, trained: str | None,
             published: Sequence[Published] = PUBLISHED) -> list[Published]:
    """The published numbers the rule sets against a cell ``(backbone, train dataset, eval
    dataset, eval split, ways, shots, head)`` of a method trained with ``trained``
    supervision (None: unknown, nothing matches)."""
    backbone, train_dataset, eval_dataset, eval_split, ways, shots, head = cell
    ours = (backbone, train_dataset, eval_dataset, base_split(eval_split), ways, shots, head)
    return [entry for entry in published
            if (entry.backbone, entry.train_dataset, entry.eval_dataset, entry.eval_split,
                entry.ways, entry.shots, entry.head) == ours and entry.supervision == trained]


def same_method(method: str, trained: str | None, cell: tuple,
                published: Sequence[Published] = PUBLISHED, variant: str = "") -> Published | None:
    """The published number of the method itself (``FAMILY``) for a cell (as ``matching``),
    or None: registered method ``method`` of ``variant`` trained with ``trained`` supervision
    (default ``SUPERVISION``)."""
    trained = trained or SUPERVISION.get(method)
    family = FAMILY.get((method, trained or "", variant))
    return next((entry for entry in matching(cell, trained, published)
                 if entry.family == family), None)


def _methods(test_rotations: bool | None) -> str:
    """The published methods whose papers test as ``test_rotations`` says, in registry order."""
    return ", ".join(dict.fromkeys(p.method for p in PUBLISHED
                                   if p.test_rotations is test_rotations))


def markdown_lines(comparisons: Sequence[Comparison]) -> list[str]:
    """The "published vs ours" section (a sentence when no cell has a published number)."""
    lines = ["### Published vs ours", ""]
    if not comparisons:
        covered = sorted({f"{p.eval_dataset}/{p.eval_split} {p.backbone}" for p in PUBLISHED})
        return [*lines, "No cell of this benchmark has a published number (the registry, "
                f"`benchmark/report/published.py`, covers {', '.join(covered)}).", ""]
    lines += ["| ours | setting | ours (%) | published method | published (%) | gap (points) "
              "| match | source |", "|---|---|:-:|---|:-:|:-:|---|---|"]
    for c in comparisons:
        match = ("same method" if c.same_method else "reference") + (
            f"; {c.protocol}" if c.protocol else "")
        lines.append(f"| {c.ours} | {c.setting} | {c.mean:.2f} ± {c.ci95:.2f} | "
                     f"{c.published.method} | {c.published.accuracy:.1f} | {c.gap:+.2f} | "
                     f"{match} | {c.published.citation} |")
    lines += ["", "Match: same backbone, training data, evaluation split, ways, shots and head, "
              "and the same supervision (labels or none); \"same method\" when the published "
              "family is the one our method reimplements (with its variant: first-order MAML is "
              "not MAML), \"reference\" otherwise "
              "(`benchmark/report/published.py`). Where our test episodes were not made as "
              f"the paper's, the match says so: the papers of {_methods(True)} test Omniglot "
              "with each test character's rotations as classes of their own (our "
              f"`+rotations` splits); {_methods(None)}: not verified here.", ""]
    return lines

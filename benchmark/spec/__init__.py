"""Specs: a spec file (YAML) read once into immutable, validated specs.

``file.read_spec_file`` reads a file once and decides once whether it is a benchmark spec
(``benchmark_spec``) or an ablation (``ablation``: a base spec and a grid of overrides);
``yaml_file`` reads the YAML strictly, ``schema`` declares and reads every field, ``limits``
bounds every count a user gives, ``plain`` holds read-only plain data and its hash.

Words, each with one meaning here:

- **spec file**: the YAML file a user writes (a benchmark spec or an ablation file).
- **spec**: the validated, immutable description read from it (``BenchmarkSpec`` and its
  parts ``MethodSpec``, ``EvalSpec``); never the file, never a model's description.
- **plain data**: what YAML gives (dicts, lists, numbers, strings); ``plain.read_only`` makes
  it read-only (``ReadOnlyDict``, tuples) and ``plain.writable`` gives a mutable copy back.
- **frozen** means one thing in the suite: weights that are not trained (frozen-embedding heads,
  an EMA target); immutable data is "read-only" (the module once named ``frozen`` is ``plain``,
  its ``FrozenDict``/``freeze``/``thaw`` are ``ReadOnlyDict``/``read_only``/``writable``). Python's
  own ``@dataclass(frozen=True)`` keeps its keyword.

Layering: ``schema``, ``limits``, ``plain`` and ``yaml_file`` import nothing of the suite but
the ground (errors, registry), so the trainer's and the data's settings declare their fields
with ``schema.setting``; ``benchmark_spec``, ``ablation`` and ``file`` sit above the trainer and
the data. This ``__init__`` imports none of them, so importing ``benchmark.spec.schema`` from
a lower layer does not load the upper ones.
"""

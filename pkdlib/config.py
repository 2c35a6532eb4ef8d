"""One run's configuration: its fields, defaults, accepted values and help text, validated in one place
before any model or data is touched. ``pkd train --help`` is generated from the fields' metadata."""

from __future__ import annotations

import dataclasses
import difflib
import math
import re
from dataclasses import dataclass, field, fields
from pathlib import Path

from .errors import KnownError
from .layer_maps import check_student_layers
from .methods import METHODS, Method
from .models import PRECISIONS, STUDENT_INITS, resolve_precision
from .terms import PARAMS, TERMS, check_values

DEFAULT_MAX_LENGTH = {"rt": 64, "imdb": 256}


class ConfigError(KnownError, ValueError):
    """A configuration value that is not accepted; the message names it and what is accepted."""


def _f(default, help: str, choices=None):
    return field(default=default, metadata={"help": help, "choices": choices})


def _with_term_fields(cls):
    """Give ``cls`` the loss terms' values (``terms.PARAMS``: each term's weight and settings, declared with the term)
    as fields after ``init``, then make it a dataclass: a new term's weight is a RunConfig field, an option of
    ``pkd train``, without an edit here."""
    own = cls.__dict__["__annotations__"]
    names = list(own)
    at = names.index("init") + 1
    cls.__annotations__ = {n: own.get(n) or PARAMS[n].type for n in names[:at] + list(PARAMS) + names[at:]}
    for p in PARAMS.values():
        setattr(cls, p.name, _f(p.default, p.help, p.choices))
    return dataclass(cls)


@_with_term_fields
class RunConfig:
    """Everything that decides a run's result. ``method='teacher'`` fine-tunes the teacher itself;
    the others train a ``student_layers``-layer student against the fine-tuned teacher in
    ``teacher_dir``. Defaults: the official recipe (AdamW, 10% warm-up, wd 0.01, clip 1.0, batch 32)."""

    task: str = _f(
        "rt",
        "task: embedded data (rt, imdb), a GLUE task, or with train_file your task's name (letters, digits, - _ .)",
    )
    method: str = _f("pkd-skip", "training method", tuple(METHODS))
    student_layers: int = _f(3, "student layers k, 1 <= k < teacher layers")
    pretrained: str = _f(
        "embedded:all-MiniLM-L6-v2",
        "pre-trained encoder (teacher and student init): Hub id, local folder, or embedded:all-MiniLM-L6-v2",
    )
    teacher_dir: str | None = _f(None, "fine-tuned teacher's folder (students only)")
    init: str = _f(
        "pretrained",
        "student init: first k layers of the pre-trained encoder, of the fine-tuned teacher, or random",
        STUDENT_INITS,
    )
    # here: the loss terms' values (terms.PARAMS): temperature, alpha, kd_reduction, beta, normalize, ...
    lr: float = _f(5e-5, "peak learning rate, > 0")
    epochs: int = _f(3, "training epochs, >= 1")
    batch_size: int = _f(32, "batch size, >= 1")
    max_length: int | None = _f(None, "max tokens per example, >= 3 (default: rt 64, imdb 256, GLUE 128)")
    warmup: float = _f(0.1, "linear warm-up fraction in [0, 1)")
    weight_decay: float = _f(0.01, "AdamW weight decay, >= 0")
    max_grad_norm: float = _f(1.0, "gradient clipping norm, > 0")
    seed: int = _f(0, "seed: classifier init and data order, >= 0")
    max_train_examples: int | None = _f(None, "use the first n training examples (default all)")
    max_eval_examples: int | None = _f(None, "use the first n dev/test examples (default all)")
    precision: str = _f(
        "fp32",
        "autocast precision (auto: bf16/fp16 on CUDA, fp32 elsewhere; resolved on this "
        "machine when the configuration is made: records hold the resolved one)",
        PRECISIONS,
    )
    device: str = _f("auto", "auto (cuda > mps > cpu), cpu, cuda, cuda:N, mps; must exist on this machine")
    data_dir: str | None = _f(None, "local data: a CSV for rt/imdb, a folder of GLUE-shaped files for GLUE")
    train_file: str | None = _f(
        None,
        "your training data: .csv .tsv .jsonl .parquet, a datasets folder, or "
        "hub:owner/name (dev/test are split off when not given)",
    )
    dev_file: str | None = _f(None, "your dev split (same formats; default: 10% of train_file, stratified)")
    test_file: str | None = _f(None, "your test split (same formats; default: 10% of train_file, stratified)")
    text_columns: str | None = _f(None, "the text column, or two for sentence pairs: a,b (default: text)")
    label_column: str | None = _f(None, "the label column: integers or strings (default: label)")
    unlabeled_file: str | None = _f(
        None,
        "unlabeled text (train_file's formats, its text columns): the teacher's "
        "outputs on it join the KD and patient terms, CE stays on labelled rows "
        "(distillation methods only)",
    )
    bucket: bool = _f(True, "length-bucketed batches")
    save_model: bool = _f(False, "keep the student's weights (a teacher's are always kept)")

    def __post_init__(self):
        self.validate()
        self.canonicalize()

    def canonicalize(self):
        """Fill task defaults and zero out what a method does not use, so equal runs have equal configurations."""
        m = METHODS[self.method]
        for name in ("teacher_dir", "data_dir", "train_file", "dev_file", "test_file", "unlabeled_file"):  # ~ expanded
            if isinstance(getattr(self, name), str) and getattr(self, name).startswith("~"):
                setattr(self, name, str(Path(getattr(self, name)).expanduser()))
        if self.max_length is None:
            self.max_length = DEFAULT_MAX_LENGTH.get(self.task, 128)
        self.precision = resolve_precision(self.precision, self.device)
        for term in TERMS.values():  # the values of a term the method lacks: fixed (terms.Param.unused)
            if term.key not in m.terms:
                for p in term.params:
                    setattr(self, p.name, p.unused)
        if not m.student:
            self.student_layers, self.teacher_dir, self.init = 0, None, "pretrained"

    def validate(self):
        _check_types(self)
        for f in fields(self):
            choices = _choices(f)
            if choices and getattr(self, f.name) not in choices:
                raise ConfigError(f"{f.name}={getattr(self, f.name)!r} is not accepted; accepted: {', '.join(choices)}")
        _check_task(self)
        m = METHODS[self.method]
        if m.student and self.teacher_dir is None:
            raise ConfigError(f"method {self.method!r} needs teacher_dir, the fine-tuned teacher's folder")
        if self.unlabeled_file is not None and not m.uses_teacher:
            raise ConfigError(
                f"unlabeled_file: method {self.method!r} learns from labels only; unlabeled text serves "
                f"the distillation methods (kd, pkd-*)"
            )
        _check_term_weights(self, m)
        try:
            check_values({name: getattr(self, name) for name in PARAMS})
        except ValueError as e:
            raise ConfigError(str(e)) from None
        _check_ranges(self)

    def check_models(self) -> int:
        """Checks that need the model folders (cheap: configs only); returns the teacher's layer count."""
        from .models import ModelError, check_architecture, load_config

        try:
            check_architecture(self.pretrained, load_config(self.pretrained))
            n_teacher = int(load_config(self.pretrained).num_hidden_layers)
            if self.teacher_dir is not None:
                _check_same_encoder(load_config(self.teacher_dir), load_config(self.pretrained), self.pretrained)
            positions = int(getattr(load_config(self.pretrained), "max_position_embeddings", 0) or 0)
        except ModelError as e:
            raise ConfigError(str(e)) from None
        if positions and self.max_length > positions:
            raise ConfigError(
                f"max_length={self.max_length} exceeds the model's {positions} positions; accepted: 3 to {positions}"
            )
        if METHODS[self.method].student:
            try:
                check_student_layers(n_teacher, self.student_layers)
            except ValueError as e:
                raise ConfigError(f"student_layers={self.student_layers}: {e}") from None
        return n_teacher

    def check_labels(self, spec):
        """A given teacher's head must have the data's label count (``spec``: the task's), and for a user's tables its
        label names (when it has its own, not LABEL_0...) in the data's order."""
        from .models import load_config

        if self.teacher_dir is None:
            return
        num_labels, names = spec.num_labels, (spec.label_names if spec.source == "files" else ())
        tc = load_config(self.teacher_dir)
        if (n := int(tc.num_labels)) != num_labels:
            raise ConfigError(
                f"the teacher in {self.teacher_dir} has {n} labels, the data {num_labels}; give a teacher "
                f"fine-tuned on these labels, or none (pkd distill fine-tunes one)"
            )
        theirs = [str(tc.id2label[i]) for i in range(n)] if getattr(tc, "id2label", None) else []
        if names and theirs and theirs != [f"LABEL_{i}" for i in range(n)] and theirs != [str(x) for x in names]:
            raise ConfigError(
                f"the teacher in {self.teacher_dir} labels its outputs {theirs}, the data {list(names)} "
                f"(label id = position in sorted order); give a teacher with the data's label order"
            )

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> RunConfig:
        """The one hop from parameters (a notebook's cell, a profile, the CLI) to a configuration."""
        known = [f.name for f in fields(cls)]
        unknown = sorted(set(d) - set(known))
        if unknown:
            hints = [
                f"{u!r}" + (f" (did you mean {c[0]!r}?)" if (c := difflib.get_close_matches(u, known, 1)) else "")
                for u in unknown
            ]
            raise ConfigError(f"unknown parameter(s) {', '.join(hints)}; accepted: {', '.join(sorted(known))}")
        return cls(**d)

    def replace(self, **kw) -> RunConfig:
        return RunConfig.from_dict({**self.to_dict(), **kw})


def _check_task(cfg: RunConfig):
    """A built-in task, or with train_file a task name of the user's (it names records and caches)."""
    from .data import TASKS

    own = ("train_file", "dev_file", "test_file", "text_columns", "label_column")
    if cfg.train_file is None:
        given = [f for f in own if getattr(cfg, f) is not None]
        if given:
            raise ConfigError(f"{', '.join(given)} need train_file, your training data")
        if cfg.task not in TASKS:
            raise ConfigError(
                f"task={cfg.task!r} is not accepted; accepted: {', '.join(TASKS)}, or your own data "
                f"with train_file= and a task name"
            )
        return
    if cfg.task in TASKS or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}", cfg.task):
        raise ConfigError(
            f"task={cfg.task!r}: with train_file, name your task (1-64 letters, digits, - _ ., not "
            f"one of the built-in {', '.join(TASKS)}); it names the run's records and caches"
        )
    if cfg.data_dir is not None:
        raise ConfigError("data_dir is for the built-in tasks; with train_file give dev_file and test_file")


def _check_term_weights(cfg: RunConfig, m: Method) -> None:
    """A method's required terms need a weight > 0: without one it is another method (pkd-skip at beta 0 is KD)."""
    for key in m.terms:
        term = TERMS[key]
        if term.required and getattr(cfg, term.weight) == 0:
            rest = tuple(k for k in m.terms if k != key)
            other = next((n for n, o in METHODS.items() if o.terms == rest and o.student), None)
            instead = f"plain {METHODS[other].label}; use method={other!r} or set" if other else "not accepted; set"
            raise ConfigError(f"method {cfg.method!r} with {term.weight}=0 is {instead} {term.weight} > 0")


def _check_types(cfg: RunConfig):
    for f in fields(cfg):  # numpy scalars (a pandas grid, a notebook) are their Python numbers
        if type(getattr(cfg, f.name)).__module__ == "numpy" and hasattr(getattr(cfg, f.name), "item"):
            setattr(cfg, f.name, getattr(cfg, f.name).item())
    checks = {
        "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "float": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v),
        "bool": lambda v: isinstance(v, bool),
        "str": lambda v: isinstance(v, str),
    }
    for f in fields(cfg):
        v, want = getattr(cfg, f.name), f.type
        base = want.removesuffix(" | None")
        if not ((v is None and want.endswith("| None")) or checks[base](v)):
            extra = " (must be a finite number)" if base == "float" and isinstance(v, float) else ""
            raise ConfigError(f"{f.name}={v!r} is not accepted{extra}; expected {want}")


#: what a fine-tuned teacher and the pre-trained encoder its students come from must share: the teacher's tokenizer
#: feeds the student, the patient and attention terms compare their states and maps, a map counts their layers
SAME_ENCODER = ("model_type", "vocab_size", "hidden_size", "num_attention_heads", "num_hidden_layers")


def _check_same_encoder(teacher, pretrained, name) -> None:
    """Refuse a teacher_dir fine-tuned from another encoder than ``pretrained`` (a config field of SAME_ENCODER
    differs)."""
    differ = [
        f"{k}: teacher_dir {getattr(teacher, k, None)}, pretrained {getattr(pretrained, k, None)}"
        for k in SAME_ENCODER
        if getattr(teacher, k, None) != getattr(pretrained, k, None)
    ]
    if differ:
        raise ConfigError(
            f"teacher_dir and pretrained {name!r} are not the same encoder ({'; '.join(differ)}); a teacher must be "
            f"fine-tuned from the encoder its students are taken from (the teacher's tokenizer feeds the student): "
            f"give the teacher's own pre-trained encoder as pretrained, or leave pretrained out where the command "
            f"takes the student's layers from the teacher"
        )


def _check_ranges(cfg: RunConfig):
    def need(ok, msg):
        if not ok:
            raise ConfigError(msg)

    need(
        cfg.student_layers >= 1 or not METHODS[cfg.method].student,
        f"student_layers={cfg.student_layers}: a student needs at least 1 layer",
    )
    for name in ("lr", "epochs", "batch_size", "max_grad_norm"):
        need(getattr(cfg, name) > 0, f"{name}={getattr(cfg, name)} must be > 0")
    need(
        cfg.max_length is None or cfg.max_length >= 3,
        f"max_length={cfg.max_length}: at least 3 ([CLS], one token, [SEP])",
    )
    need(0 <= cfg.warmup < 1, f"warmup={cfg.warmup} must be a fraction in [0, 1)")
    need(cfg.weight_decay >= 0, f"weight_decay={cfg.weight_decay} must be >= 0")
    need(0 <= cfg.seed < 2**32, f"seed={cfg.seed} must be in [0, 2**32) (numpy's and torch's seed range)")
    for name in ("max_train_examples", "max_eval_examples"):
        v = getattr(cfg, name)
        need(v is None or v >= 1, f"{name}={v} must be >= 1 or None (all)")
    need(
        _device_ok(cfg.device),
        f"device={cfg.device!r} is not available on this machine; accepted here: "
        f"{', '.join(d for d in ('auto', 'cpu', 'cuda', 'mps') if _device_ok(d))}",
    )


def _device_ok(device: str) -> bool:
    import torch

    if device in ("auto", "cpu"):
        return True
    if device == "cuda" or device.startswith("cuda:"):
        idx = device.partition(":")[2]
        return torch.cuda.is_available() and (idx == "" or (idx.isdigit() and int(idx) < torch.cuda.device_count()))
    if device == "mps":
        return getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
    return False


def _choices(f) -> tuple | None:
    """A field's accepted values, if it has a closed set."""
    return f.metadata.get("choices")


def field_help(f) -> str:
    """A field's help line for the CLI: what it is, its default and accepted values."""
    choices = _choices(f)
    acc = f"; accepted: {', '.join(choices)}" if choices else ""
    text = f.metadata.get("help", "")
    default = "" if "(default" in text else f"default: {f.default}"  # a help that names its default says it once
    return f"{text} ({default}{acc})" if default or acc else text

"""One run's configuration, validated before any model or data is touched."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, fields

from .losses import METHODS

RUN_METHODS = ("teacher",) + tuple(METHODS)
DEFAULT_MAX_LENGTH = {"rt": 64, "imdb": 256}


class ConfigError(ValueError):
    """A configuration value that is not accepted; the message names it and what is accepted."""


@dataclass
class RunConfig:
    """Everything that decides a run's result. ``method='teacher'`` fine-tunes the teacher itself;
    the others train a ``student_layers``-layer student against the fine-tuned teacher in
    ``teacher_dir``. Defaults: the official recipe (AdamW, 10% warm-up, wd 0.01, clip 1.0, batch 32)."""
    task: str = "rt"
    method: str = "pkd-skip"
    student_layers: int = 3
    pretrained: str = "embedded:all-MiniLM-L6-v2"   # pre-trained encoder (teacher init, student init)
    teacher_dir: str | None = None                   # fine-tuned teacher (students only)
    init: str = "pretrained"                         # student init: pretrained | teacher | random
    temperature: float = 10.0
    alpha: float = 0.5
    beta: float = 100.0
    normalize: bool = True
    kd_reduction: str = "batchmean"
    lr: float = 5e-5
    epochs: int = 3
    batch_size: int = 32
    max_length: int | None = None   # None: the task's default (rt 64, imdb 256, GLUE 128)
    warmup: float = 0.1
    weight_decay: float = 0.01
    max_grad_norm: float = 1.0
    seed: int = 0
    max_train_examples: int | None = None
    max_eval_examples: int | None = None
    precision: str = "fp32"      # fp32 | bf16 | fp16 | auto (bf16/fp16 on CUDA, fp32 elsewhere)
    device: str = "auto"         # auto (cuda > mps > cpu) | cpu | cuda | mps
    data_dir: str | None = None  # local data: a CSV for rt/imdb, a folder of GLUE-shaped files for GLUE
    bucket: bool = True          # length-bucketed batches
    save_model: bool = False     # keep the student's weights (the teacher's are always kept)

    # ------------------------------------------------------------------ validation
    def __post_init__(self):
        self.validate()
        self.canonicalize()

    def canonicalize(self):
        """Fill task defaults and zero out what a method does not use, so equal runs have equal configurations."""
        if self.max_length is None:
            self.max_length = DEFAULT_MAX_LENGTH.get(self.task, 128)
        if self.method in ("teacher", "ft"):
            self.alpha, self.beta, self.temperature, self.normalize = 0.0, 0.0, 1.0, False
            self.kd_reduction = "batchmean"
        elif self.method == "kd":
            self.beta, self.normalize = 0.0, False
        if self.method == "teacher":
            self.student_layers, self.teacher_dir, self.init = 0, None, "pretrained"

    def validate(self):
        from .data import TASKS
        from .models import STUDENT_INITS
        types = {f.name: f.type for f in fields(self)}
        for f in fields(self):
            v = getattr(self, f.name)
            want = types[f.name]
            ok = {"int": isinstance(v, int) and not isinstance(v, bool),
                  "float": isinstance(v, (int, float)) and not isinstance(v, bool),
                  "bool": isinstance(v, bool), "str": isinstance(v, str),
                  "str | None": v is None or isinstance(v, str),
                  "int | None": v is None or (isinstance(v, int) and not isinstance(v, bool))}[want]
            if not ok:
                raise ConfigError(f"{f.name}={v!r} has type {type(v).__name__}; expected {want}")
        if self.task not in TASKS:
            raise ConfigError(f"unknown task {self.task!r}; known tasks: {', '.join(TASKS)}")
        if self.method not in RUN_METHODS:
            raise ConfigError(f"unknown method {self.method!r}; known methods: {', '.join(RUN_METHODS)}")
        if self.method != "teacher":
            if self.student_layers < 1:
                raise ConfigError(f"student_layers={self.student_layers}: a student needs at least 1 layer")
            if self.teacher_dir is None:
                raise ConfigError(f"method {self.method!r} needs teacher_dir, the fine-tuned teacher's folder")
        if not 0.0 <= self.alpha <= 1.0:
            raise ConfigError(f"alpha={self.alpha} is outside [0, 1]")
        if self.temperature <= 0:
            raise ConfigError(f"temperature={self.temperature} must be > 0")
        if self.beta < 0:
            raise ConfigError(f"beta={self.beta} must be >= 0")
        if self.method in ("pkd-last", "pkd-skip") and self.beta == 0:
            raise ConfigError(f"method {self.method!r} with beta=0 is plain KD; use method='kd' or set beta > 0")
        if self.init not in STUDENT_INITS:
            raise ConfigError(f"unknown init {self.init!r}; accepted: {', '.join(STUDENT_INITS)}")
        if self.kd_reduction not in ("batchmean", "mean"):
            raise ConfigError(f"kd_reduction={self.kd_reduction!r}; accepted: batchmean, mean")
        if self.precision not in ("fp32", "bf16", "fp16", "auto"):
            raise ConfigError(f"precision={self.precision!r}; accepted: fp32, bf16, fp16, auto")
        if self.device not in ("auto", "cpu", "cuda", "mps") and not self.device.startswith("cuda:"):
            raise ConfigError(f"device={self.device!r}; accepted: auto, cpu, cuda, cuda:N, mps")
        for name in ("lr", "epochs", "batch_size", "max_length"):
            if getattr(self, name) is not None and getattr(self, name) <= 0:
                raise ConfigError(f"{name}={getattr(self, name)} must be > 0")
        if not 0 <= self.warmup < 1:
            raise ConfigError(f"warmup={self.warmup} must be a fraction in [0, 1)")
        if self.weight_decay < 0 or self.max_grad_norm <= 0:
            raise ConfigError("weight_decay must be >= 0 and max_grad_norm > 0")
        for name in ("max_train_examples", "max_eval_examples"):
            v = getattr(self, name)
            if v is not None and v < 1:
                raise ConfigError(f"{name}={v} must be >= 1 or None (all)")

    def check_models(self):
        """Checks that need the model folders (cheap: configs only)."""
        from .models import ModelError, load_config, resolve_model_path
        try:
            n_teacher = int(load_config(self.pretrained).num_hidden_layers)
            if self.teacher_dir is not None:
                resolve_model_path(self.teacher_dir)
                n_ft = int(load_config(self.teacher_dir).num_hidden_layers)
                if n_ft != n_teacher:
                    raise ConfigError(f"teacher_dir has {n_ft} layers but pretrained {self.pretrained!r} has {n_teacher}")
        except ModelError as e:
            raise ConfigError(str(e)) from e
        if self.method != "teacher" and not 1 <= self.student_layers < n_teacher:
            raise ConfigError(f"student_layers={self.student_layers}: must be in 1..{n_teacher - 1} "
                              f"for a {n_teacher}-layer teacher")
        return n_teacher

    # ------------------------------------------------------------------ helpers
    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "RunConfig":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            import difflib
            hints = [f"{u!r} (did you mean {difflib.get_close_matches(u, known, 1)[0]!r}?)"
                     if difflib.get_close_matches(u, known, 1) else repr(u) for u in unknown]
            raise ConfigError(f"unknown parameter(s) {', '.join(hints)}; accepted: {', '.join(sorted(known))}")
        return cls(**d)

    def replace(self, **kw) -> "RunConfig":
        d = self.to_dict()
        d.update(kw)
        return RunConfig.from_dict(d)

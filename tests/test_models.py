import pytest
import torch

from pkdlib.models import ModelError, build_student, count_parameters, load_classifier, resolve_model_path


def test_student_holds_exactly_the_pretrained_first_k_layers(tiny_bert):
    from transformers import AutoModel

    base = AutoModel.from_pretrained(tiny_bert)
    student = build_student(str(tiny_bert), 2, num_labels=2)
    assert student.config.num_hidden_layers == 2 and len(student.bert.encoder.layer) == 2
    sd, bd = student.bert.state_dict(), base.state_dict()
    for k, v in sd.items():
        if k.startswith("pooler"):
            continue
        assert torch.equal(v, bd[k]), k
    assert not any(k.startswith("encoder.layer.2") for k in sd)


def test_student_init_options(tiny_bert, tiny_teacher):
    rec, _ = tiny_teacher
    from transformers import AutoModel

    ft = AutoModel.from_pretrained(rec["model_dir"])
    s = build_student(str(tiny_bert), 2, 2, init="teacher", finetuned_teacher=rec["model_dir"])
    assert torch.equal(s.bert.encoder.layer[1].output.dense.weight, ft.encoder.layer[1].output.dense.weight)
    r = build_student(str(tiny_bert), 2, 2, init="random")
    assert not torch.equal(r.bert.encoder.layer[0].output.dense.weight, ft.encoder.layer[0].output.dense.weight)
    with pytest.raises(ValueError, match="init"):
        build_student(str(tiny_bert), 2, 2, init="half")


@pytest.mark.parametrize("k", [0, 4, 5])
def test_student_layer_count_bounds(tiny_bert, k):
    with pytest.raises(ValueError, match=r"1\.\.3 for a 4-layer teacher"):
        build_student(str(tiny_bert), k, 2)


def test_model_path_errors(tmp_path):
    with pytest.raises(ModelError, match="does not exist"):
        resolve_model_path(str(tmp_path / "nope"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelError, match="no config.json"):
        resolve_model_path(str(tmp_path / "empty"))
    (tmp_path / "empty" / "config.json").write_text("{}")
    with pytest.raises(ModelError, match="no \\*.safetensors"):
        resolve_model_path(str(tmp_path / "empty"))


def test_embedded_teacher_loads_and_counts():
    m = load_classifier("embedded:all-MiniLM-L6-v2", 2)
    assert m.config.num_hidden_layers == 6 and m.config.hidden_size == 384
    c = count_parameters(m)
    assert c["embedding"] == 30522 * 384 + 512 * 384 + 2 * 384 + 2 * 384
    assert c["total"] > c["embedding"] + c["transformer"]

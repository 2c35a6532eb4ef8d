"""Warnings that catch real failures (pkdlib/diagnose.py): a class never predicted, macro F1 far below accuracy, a
student much worse than its teacher on one class, a one-class model tying the majority baseline; labels by name."""

from __future__ import annotations

import torch

from pkdlib.diagnose import class_gap_warnings, per_class, prediction_warnings
from pkdlib.metrics import majority_baseline

NAMES = ("long", "neg", "pos")


def test_a_class_never_predicted_is_flagged_by_name_with_macro_f1_far_below_accuracy():
    # the 3-label file: 20% 'long' never predicted; the rest right: accuracy 0.80, macro F1 ~0.6
    labels = torch.tensor([0] * 20 + [1] * 40 + [2] * 40)
    preds = torch.tensor([1] * 10 + [2] * 10 + [1] * 40 + [2] * 40)
    w = prediction_warnings("the student (test)", labels, preds, NAMES, majority_label=1)
    assert any("never predicts 'long': 0 test rows predicted as it, though 20 of 100 (20%)" in x for x in w), w
    assert any("macro F1 0.5926 is far below its accuracy 0.8000" in x and "'long' 0/20" in x for x in w), w
    assert not any("did not learn" in x for x in w)
    assert not any("label 0" in x or "label 2" in x for x in w)  # names, never internal ids
    almost = preds.clone()
    almost[0] = 0  # predicted once for 20 rows: almost never
    assert any("almost never predicts 'long'" in x for x in prediction_warnings("m", labels, almost, NAMES, 1))


def test_a_healthy_model_gets_no_warning():
    labels = torch.tensor([0] * 20 + [1] * 40 + [2] * 40)
    preds = labels.clone()
    preds[:3] = 1
    preds[30:33] = 2
    assert prediction_warnings("m", labels, preds, NAMES, majority_label=1) == []


def test_a_one_class_model_that_ties_the_majority_baseline_did_not_learn():
    # 51 of 100 test rows are 'positive'; the model says 'positive' for all: 0.51 = the baseline (float32 would say
    # 0.50999999 and the old check `0.51 <= 0.50999999` let it pass)
    labels = torch.tensor([1] * 51 + [0] * 49)
    preds = torch.ones(100, dtype=torch.long)
    base = majority_baseline([1, 1, 0], labels)
    assert base == {"label": 1, "accuracy": 0.51}
    assert float(torch.tensor(0.51, dtype=torch.float32)) != 0.51  # the round trip the old baseline made
    w = prediction_warnings("kd (test)", labels, preds, ("negative", "positive"), base["label"])
    assert any(
        "gets 51 of 100 test rows right (0.5100), no more than always predicting 'positive'" in x
        and "did not learn" in x
        for x in w
    ), w
    assert any("predicts 'positive' for 100.0% of its test rows" in x for x in w)
    assert any("never predicts 'negative'" in x for x in w)


def test_a_student_much_worse_than_its_teacher_on_one_class_is_flagged():
    labels = torch.tensor([0] * 20 + [1] * 40 + [2] * 40)
    teacher = per_class(labels, labels, NAMES)
    worse = labels.clone()
    worse[:8] = 1  # 12 of 20 'long' right: 60% against 100%
    student = per_class(labels, worse, NAMES)
    assert student[0] == {"label": "long", "n": 20, "predicted": 12, "correct": 12, "accuracy": 0.6}
    w = class_gap_warnings(teacher, student, "the 2-layer student")
    assert w == [
        "the 2-layer student is much worse than the teacher on 'long': 12 of 20 right (60%) against the "
        "teacher's 20 (100%)"
    ]
    slightly = labels.clone()
    slightly[:3] = 1  # 85%: within CLASS_GAP
    assert class_gap_warnings(teacher, per_class(labels, slightly, NAMES)) == []

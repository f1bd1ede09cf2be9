"""Metadata columns as condition labels."""

from __future__ import annotations

import pandas as pd
import pytest
import torch

from medgen.data.conditions import (
    AddConditions,
    condition_names,
    condition_values,
    condition_vocab,
)


def test_names_and_values_parse_cli_text() -> None:
    assert condition_names("type,location") == ("tumour_type", "location")
    assert condition_values("location=brainstem, type=malignant") == {
        "location": "brainstem",
        "tumour_type": "malignant",
    }
    with pytest.raises(ValueError, match="cannot condition on 'colour'"):
        condition_names("colour")
    with pytest.raises(ValueError, match="once"):
        condition_names("type,tumour_type")
    with pytest.raises(ValueError, match="name=value"):
        condition_values("brainstem")


def test_labels_are_one_based_with_zero_for_unseen() -> None:
    meta = pd.DataFrame(
        {"tumour_type": ["none", "benign", "malignant", "odd"], "location": ["none", "frontal"] * 2}
    )
    names = ("tumour_type", "location")
    vocab = condition_vocab(meta.iloc[:3], names)
    assert vocab == (("benign", "malignant", "none"), ("frontal", "none"))
    add = AddConditions(meta, names, vocab)
    items = [add({"index": i}) for i in range(4)]
    assert torch.equal(
        torch.stack([it["cond"] for it in items]), torch.tensor([[3, 2], [1, 1], [2, 2], [0, 1]])
    )

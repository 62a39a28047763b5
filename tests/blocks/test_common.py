from __future__ import annotations

import pytest
import torch

from blocknas.blocks import make_activation, make_divisible


@pytest.mark.parametrize(
    ("value", "expected"),
    [(1, 8), (3, 8), (6, 8), (9, 16), (12, 16), (18, 24), (20, 24), (50, 48), (100, 104),
     (184, 184), (1000, 1000)],
)  # fmt: skip
def test_make_divisible_matches_the_spec_examples(value: int, expected: int) -> None:
    assert make_divisible(value) == expected


def test_custom_activations_match_their_formulas() -> None:
    x = torch.linspace(-6, 6, 101)
    relu6 = torch.nn.functional.relu6
    torch.testing.assert_close(make_activation("HardSwish")(x), x * relu6(x + 3) / 6)
    torch.testing.assert_close(make_activation("HardSigmoid")(x), relu6(x + 3) / 6)
    torch.testing.assert_close(make_activation("Swish")(x), x * torch.sigmoid(x))
    assert isinstance(make_activation(None), torch.nn.Identity)
    assert make_activation("Softmax").dim == 1


def test_unknown_activation_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown activation 'Relu'"):
        make_activation("Relu")

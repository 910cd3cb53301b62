"""The zoo actors' matrix product is the same on every CPU: each output is the pairwise tree of
IEEE float32 products and sums that any vector width computes to the same bits, never a BLAS or
einsum kernel chosen for the CPU at hand (their summation orders and fused multiply-adds differ
between CPU generations, and the datasets an actor collects with them differ from the pins)."""

from __future__ import annotations

import numpy as np

from collectors.actors import MLPActor, portable_product


def tree_sum(values: list[np.float32]) -> np.float32:
    """The documented order, one scalar at a time: pair halves, carry an odd last term."""
    while len(values) > 1:
        half = len(values) // 2
        values = [np.float32(values[i] + values[half + i]) for i in range(half)] + values[2 * half:]
    return values[0]


def test_each_output_is_the_fixed_pairwise_tree_of_float32_products():
    rng = np.random.default_rng(3)
    inputs = rng.standard_normal((4, 11)).astype(np.float32)
    weight = rng.standard_normal((11, 5)).astype(np.float32)
    product = portable_product(inputs, weight)
    expected = np.array([[tree_sum([np.float32(inputs[b, k] * weight[k, h]) for k in range(11)])
                          for h in range(5)] for b in range(4)], dtype=np.float32)
    assert product.dtype == np.float32
    np.testing.assert_array_equal(product, expected)
    np.testing.assert_allclose(product, inputs @ weight, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(portable_product(inputs[0], weight), product[0])   # one row or a batch


def test_an_actor_acts_through_it():
    rng = np.random.default_rng(4)
    weights = [rng.standard_normal((6, 8)).astype(np.float32), rng.standard_normal((8, 2)).astype(np.float32)]
    biases = [rng.standard_normal(8).astype(np.float32), rng.standard_normal(2).astype(np.float32)]
    state = rng.standard_normal((3, 6)).astype(np.float32)
    hidden = np.maximum(portable_product(state, weights[0]) + biases[0], 0.0)
    np.testing.assert_array_equal(MLPActor(weights, biases)(state),
                                  np.tanh(portable_product(hidden, weights[1]) + biases[1]))

"""tinygrad_scalar._floats: the array an optimizer wrote back is reused for a list of the
same numbers, never for a list that differs, not even by the sign of a zero; and a
compiled step always sees the parameters' current values."""

import math

import numpy as np

import tinygrad_scalar as ts
from tinygrad_scalar import Value, _floats, optim


def test_a_remembered_array_is_returned_for_the_same_numbers_and_only_for_them():
    written = [0.5 + i for i in range(300)]
    array = np.array(written)
    _floats.remember(written, array)
    assert _floats.as_array(list(written)) is array  # the same float objects
    assert _floats.as_array([float(repr(x)) for x in written]) is array  # equal numbers
    changed = list(written)
    changed[-1] = 7.25
    other = _floats.as_array(changed)
    assert other is not array and other[-1] == 7.25 and other[0] == 0.5


def test_arrays_with_a_zero_or_a_nan_are_not_remembered():
    # 0.0 == -0.0 and nan != nan: a list equal to one of these is not the same numbers
    for special in (0.0, math.nan):
        written = [1.0 + i for i in range(299)] + [special]
        array = np.array(written)
        _floats.remember(written, array)
        flipped = written[:-1] + [-0.0 if special == 0.0 else math.nan]
        got = _floats.as_array(flipped)
        assert got is not array
        assert math.copysign(1.0, got[-1]) == math.copysign(1.0, flipped[-1])


def test_a_compiled_step_sees_a_value_set_after_the_optimizers_write_back():
    ws = [Value(0.1 * (i + 1)) for i in range(400)]
    step = ts.compile(lambda x: ts.dot(ws, [x] * 400), ws, (1.0,))
    optimizer = optim.Adam(ws, lr=0.01)
    step([1.0])
    optimizer.step()  # writes every value back and remembers the array
    expected = math.fsum(w.data for w in ws)
    assert math.isclose(step.evaluate([1.0]), expected, rel_tol=1e-12)
    ws[123].data = 1000.0  # set by hand after the write-back
    ws[7].data = -0.0
    expected = math.fsum(w.data for w in ws)
    assert math.isclose(step.evaluate([1.0]), expected, rel_tol=1e-12)


def test_a_converted_list_has_each_numbers_own_bits_and_odd_items_convert_as_numpy_does():
    # the struct-packed conversion against np.array: the same bits at 0, -0, subnormals,
    # +-1e308, +-inf, nan, a bool, an int past 2**53, a NumPy float and a Value
    odd = [0.0, -0.0, 5e-324, -5e-324, 1e308, -1e308, math.inf, -math.inf, math.nan, 1.5]
    odd += [True, 2**53 + 1, np.float64(2.5), Value(-3.25)]
    expected = np.array([float(x) for x in odd], dtype=np.float64)
    got = _floats.as_array(odd)
    assert got.dtype == np.float64 and got.tobytes() == expected.tobytes()
    # what struct refuses goes to np.array: the same conversion, or the same error
    assert _floats.as_array(["1.5", 2.0]).tolist() == [1.5, 2.0]
    with np.testing.assert_raises(OverflowError):
        _floats.as_array([1.0, 10**400])
    with np.testing.assert_raises(ValueError):
        _floats.as_array([1.0, "x"])

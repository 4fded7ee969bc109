"""Expert loads: CSV traces with located errors, and reproducible generated loads."""

from __future__ import annotations

import numpy as np
import pytest

from formulations.types import Model
from solver.io.loads import LoadsError, apportion, generate_loads, load_expert_loads


def _model(experts: int = 8, k: int = 2, layers: int = 4) -> Model:
    return Model(
        name="toy",
        num_layers=layers + 1,
        num_dense_layers=1,
        hidden_size=64,
        num_routed_experts=experts,
        experts_per_token=k,
        num_shared_experts=0,
        moe_intermediate_size=32,
        vocab_size=100,
        attention="mha",
        num_attention_heads=4,
        head_dim=16,
    )


DSV3 = _model(experts=256, k=8, layers=58)


def _write(tmp_path, text: str, name: str = "loads.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


# ---- CSV traces ----


def test_csv_reads_loads_with_extra_columns_and_missing_experts(tmp_path):
    path = _write(
        tmp_path, "step,layer,expert,tokens,note\n0,0,0,5,a\n0,0,3,7,b\n0,1,7,2,c\n1,1,7,3,d\n\n"
    )
    loads = load_expert_loads(str(path), _model())
    assert loads.shape == (2, 8)
    assert loads.dtype == np.int64
    assert loads[0].tolist() == [5, 0, 0, 7, 0, 0, 0, 0]
    assert loads[1].tolist() == [0] * 7 + [5]  # duplicate rows add up


def test_csv_accepts_whole_floats_and_any_column_order(tmp_path):
    path = _write(tmp_path, "tokens,expert,layer\n4.0,1,0\n")
    assert load_expert_loads(str(path), _model())[0].tolist() == [0, 4, 0, 0, 0, 0, 0, 0]


@pytest.mark.parametrize(
    "text, line, fragment",
    [
        ("layer,expert\n0,1\n", 1, "missing column(s) tokens"),
        ("layer,expert,tokens\n0,1,5\n0,2,-3\n", 3, "tokens = -3 is out of range: must be >= 0"),
        ("layer,expert,tokens\n0,1,lots\n", 2, "tokens = 'lots' must be an integer"),
        ("layer,expert,tokens\n0,1,2.5\n", 2, "tokens = 2.5 must be an integer"),
        ("layer,expert,tokens\n0,1,5\n0,8,1\n", 3, "expert = 8 is out of range: must be >= 0"),
        ("layer,expert,tokens\n0,-1,1\n", 2, "expert = -1 is out of range: must be >= 0 and < 8"),
        ("layer,expert,tokens\n4,0,1\n", 2, "layer = 4 is out of range: must be >= 0 and < 4"),
        ("layer,expert,tokens\n0,0,1\n1,0,0\n", 3, "empty layer 1"),
        ("layer,expert,tokens\n0,1\n", 2, "2 fields, expected at least 3"),
    ],
)
def test_csv_errors_name_file_line_and_range(tmp_path, text, line, fragment):
    path = _write(tmp_path, text)
    with pytest.raises(LoadsError) as err:
        load_expert_loads(str(path), _model())
    message = str(err.value)
    assert str(path) in message
    assert f"line {line}" in message
    assert fragment in message


def test_csv_missing_layer_is_an_empty_layer(tmp_path):
    path = _write(tmp_path, "layer,expert,tokens\n0,0,1\n2,0,1\n")
    with pytest.raises(LoadsError, match=r"empty layer 1 \(no rows\).*\[0, 3\)"):
        load_expert_loads(str(path), _model())


def test_csv_header_only_and_empty_file(tmp_path):
    with pytest.raises(LoadsError, match="no data rows"):
        load_expert_loads(str(_write(tmp_path, "layer,expert,tokens\n")), _model())
    with pytest.raises(LoadsError, match="line 1: empty file"):
        load_expert_loads(str(_write(tmp_path, "", "empty.csv")), _model())


def test_unreadable_files(tmp_path):
    with pytest.raises(LoadsError, match="cannot read loads file") as err:
        load_expert_loads(str(tmp_path / "nope.csv"), _model())
    assert "nope.csv" in str(err.value)
    assert "zipf" in str(err.value)  # says what would have been accepted
    with pytest.raises(LoadsError, match="cannot read loads file"):
        load_expert_loads(str(tmp_path), _model())  # a directory
    binary = tmp_path / "blob.csv"
    binary.write_bytes(b"\xff\xfe\x00\x81")
    with pytest.raises(LoadsError, match="not a text CSV"):
        load_expert_loads(str(binary), _model())


def test_loads_error_is_a_value_error():
    assert issubclass(LoadsError, ValueError)


# ---- generated loads ----


def test_zipf_is_reproducible_and_hot_experts_move():
    a = load_expert_loads("zipf:s=1.1,seed=7", DSV3)
    b = load_expert_loads("zipf:s=1.1,seed=7", DSV3)
    c = load_expert_loads("zipf:s=1.1,seed=8", DSV3)
    assert a.shape == (58, 256)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert (a.sum(axis=1) == 4096 * 8).all()
    assert len(set(a.argmax(axis=1).tolist())) > 10  # hot experts differ by layer
    # Same popularity curve in every layer, permuted.
    np.testing.assert_array_equal(np.sort(a[0]), np.sort(a[1]))
    # An expert serves each token at most once.
    assert a.max() <= 4096


def test_generated_options_and_forms():
    m = _model(experts=16, k=4, layers=6)
    logn = generate_loads("lognormal:sigma=0.8,seed=3,tokens=1000,layers=3", m)
    assert logn.shape == (3, 16)
    assert (logn.sum(axis=1) == 1000).all()
    assert logn.max() <= 250
    uni = generate_loads("uniform:tokens=50", m)
    assert uni.shape == (6, 16)
    assert sorted(set(uni[0].tolist())) == [3, 4]  # 50 over 16, deterministic remainder
    assert (uni.sum(axis=1) == 50).all()
    assert generate_loads("zipf", m).shape == (6, 16)  # defaults s=1.0, seed=0


def test_sigma_zero_is_uniform_and_flat_zipf_too():
    m = _model(experts=16, k=4)
    flat = generate_loads("lognormal:sigma=0,tokens=64", m)
    assert (flat == 4).all()
    assert (generate_loads("zipf:s=0,tokens=64", m) == 4).all()


@pytest.mark.parametrize(
    "spec, fragment",
    [
        ("pareto:a=2", "unknown loads spec"),
        ("zipf:s=1.1,sigma=2", "bad item 'sigma=2'"),
        ("zipf:s", "bad item 's'"),
        ("zipf:s=high", "s = 'high' must be a number"),
        ("zipf:s=-1", "s=-1 must be >= 0"),
        ("lognormal:sigma=1,tokens=0", "tokens=0 must be a whole number >= 1"),
        ("uniform:layers=2.5", "layers=2.5 must be a whole number >= 1"),
        ("zipf:seed=-3", "seed=-3 must be a whole number >= 0"),
    ],
)
def test_bad_specs_list_what_is_allowed(spec, fragment):
    with pytest.raises(LoadsError) as err:
        load_expert_loads(spec, _model())
    assert fragment in str(err.value)


def test_apportion_is_exact_capped_and_deterministic():
    w = np.array([100.0, 1.0, 1.0, 1.0])
    shares = apportion(w, total=20, cap=8)
    assert shares.tolist() == [8, 4, 4, 4]
    assert apportion(np.ones(3), 10, 10).tolist() == [4, 3, 3]  # ties to the lower index
    with pytest.raises(LoadsError):
        apportion(np.ones(2), 10, 4)

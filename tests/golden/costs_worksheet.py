"""Hand derivation of tests/golden/costs.csv (run: python tests/golden/costs_worksheet.py).

A worksheet, not a model: every case below is written out by hand with the literal numbers of
its model file, hardware file (profile applied by hand) and deployment, and every branch
(which fan-out, inside or outside a scale-up domain, which shared-expert side, how many experts
per GPU) is decided by hand in the comments. Python only does the arithmetic: `let` evaluates
one expression of literal numbers and of quantities already computed on the same sheet, and
writes it to the CSV with every name replaced by its number, so each row's derivation column
is plain arithmetic that a reader can redo on a calculator. Nothing here imports the reference
evaluator or the project's code.

Sources of the numbers: instances/models/{deepseek-v3,step3,qwen3-235b-a22b,gpt-oss-120b}.toml
and instances/hardware/{h800,h200,gb200-nvl72,h20}.toml. Rules: docs/model.md §2-§9, the README's
assumptions, the issue 7/8 changes (b = ceil(n / N_BO) sets stage times, memory counts n,
own-pace metrics, shared-expert FLOPs 2*S*3*H*M_s, EP keeps shared experts with attention), and
the fixed time of every stage (issue 13, docs/model.md §3.1): the `[latency]` values of the
sustained hardware files (us) are added to each stage where it runs; a link's dispatch and combine
each carry their own; the paper profile has none. The tensor-parallel cases (`tp`, the last
four) follow docs/model.md §20 and convention C10 of tests/reference_model.py: t GPUs per group
(the deployment's `t`), r groups, heads and each expert's intermediate dimension split over t.
"""

from __future__ import annotations

import csv
import math
import re
from pathlib import Path

OUT = Path(__file__).with_name("costs.csv")
COLUMNS = (
    "case",
    "model",
    "hardware",
    "profile",
    "architecture",
    "deployment",
    "workload",
    "hardware_overrides",
    "ffn_hardware",
    "ffn_profile",
    "link_gbps",
    "kind",
    "term",
    "value",
    "unit",
    "derivation",
)
CALC = {"__builtins__": {}, "ceil": math.ceil, "min": min, "max": max}
ROWS: list[dict[str, str]] = []
MODEL_VALUES: dict[str, float] = {}


class Sheet:
    """One case (or one model's shared quantities): named results of literal arithmetic."""

    def __init__(self, meta: dict[str, str], values: dict[str, float] | None = None) -> None:
        self.meta = meta
        self.values: dict[str, float] = dict(values or {})

    def let(self, name: str, expr: str, unit: str, note: str = "", term: bool = True) -> float:
        value = eval(expr, CALC, dict(self.values))  # noqa: S307 (literal arithmetic only)
        shown = re.sub(
            r"\b[A-Za-z_][A-Za-z_0-9]*\b",
            lambda mt: (
                repr(self.values[mt.group(0)]) if mt.group(0) in self.values else mt.group(0)
            ),
            expr,
        )
        derivation = f"{shown} = {value!r}" + (f"  [{note}]" if note else "")
        ROWS.append(
            {
                **self.meta,
                "kind": "term" if term else "intermediate",
                "term": name,
                "value": repr(float(value)),
                "unit": unit,
                "derivation": derivation,
            }
        )
        self.values[name] = value
        return value

    def mid(self, name: str, expr: str, unit: str, note: str = "") -> float:
        return self.let(name, expr, unit, note, term=False)


def model_meta(model: str) -> dict[str, str]:
    blank = {c: "" for c in COLUMNS}
    return {**blank, "case": f"model:{model}", "model": model}


# ---- model-level quantities (shared by every case of a model) ------------------------------

# DeepSeek-V3: MLA, H 7168, 128 heads, q_lora 1536, kv_lora 512, rope 64, nope 128, v 128;
# 61 layers of which 3 dense (I 18432), 58 MoE; 1 shared expert of M 2048; vocab 129280.
ds = Sheet(model_meta("deepseek-v3"))
ds.mid(
    "ds_proj",
    "7168*1536 + 1536*128*(128+64) + 7168*(512+64) + 128*128*512 + 128*512*128 + 128*128*7168",
    "params",
    "absorbed MLA per layer: q_a, q_b, kv_a (latent+rope), W_UK into the query, W_UV, o_proj",
)
ds.mid("ds_kv_elems", "512 + 64", "elements", "latent + RoPE key cached per token and layer")
ds.mid("ds_core", "2*128*(512+64) + 2*128*512", "FLOP", "576-dim scores + 512-dim values per ctx")
ds.mid("ds_side_att", "3*3*7168*18432 + 58*1*3*7168*2048", "params", "dense FFNs + shared")
ds.mid("ds_side_ffn", "3*3*7168*18432", "params", "dense FFNs only (shared experts on FFN)")
ds.mid("ds_stage_att", "ds_proj + ds_side_att/61", "params", "per layer stage, shared on att.")
ds.mid("ds_kv_layer", "576*1*4096", "bytes", "per sequence and layer at context 4096")
ds.mid("ds_expert", "3*7168*2048*1", "bytes", "one routed expert, FP8")
ds.mid("ds_shared", "1*3*7168*2048", "params", "the shared expert of one MoE layer")
ds.mid("ds_stage_ffn", "ds_proj + ds_side_ffn/61", "params", "per layer stage, shared on FFN")
MODEL_VALUES.update(ds.values)

# Step-3: MFA, H 7168, 64 query heads, 1 KV head of 256, q_lora 2048; 61 layers, 5 dense
# (I 18432), 56 MoE; 48 experts, K 3, M 5120; 1 shared expert of 5120; vocab 128815.
st = Sheet(model_meta("step3"))
st.mid("st_proj", "7168*2048 + 2048*64*256 + 2*7168*1*256 + 64*256*7168", "params", "MFA layer")
st.mid("st_kv_elems", "2*1*256", "elements", "K and V of the one KV head")
st.mid("st_core", "2*64*256 + 2*64*256", "FLOP", "QK^T and PV per cached token")
st.mid("st_side_att", "5*3*7168*18432 + 56*1*3*7168*5120", "params", "dense FFNs + shared")
st.mid("st_side_ffn", "5*3*7168*18432", "params", "dense FFNs only (shared experts on FFN)")
st.mid("st_stage_att", "st_proj + st_side_att/61", "params")
st.mid("st_stage_ffn", "st_proj + st_side_ffn/61", "params")
st.mid("st_kv_layer", "512*1*4096", "bytes")
st.mid("st_expert", "3*7168*5120*1", "bytes")
st.mid("st_shared", "1*3*7168*5120", "params", "the shared expert of one MoE layer")
MODEL_VALUES.update(st.values)

# Qwen3-235B-A22B: GQA, H 4096, 64 heads, 4 KV heads of 128; 94 layers, all MoE; 128 experts,
# K 8, M 1536; no shared expert; vocab 151936.
qw = Sheet(model_meta("qwen3-235b-a22b"))
qw.mid("qw_proj", "4096*64*128 + 2*4096*4*128 + 64*128*4096", "params", "GQA layer")
qw.mid("qw_kv_elems", "2*4*128", "elements")
qw.mid("qw_core", "2*64*128 + 2*64*128", "FLOP")
qw.mid("qw_kv_layer", "1024*1*4096", "bytes")
qw.mid("qw_expert", "3*4096*1536*1", "bytes")
MODEL_VALUES.update(qw.values)


def case(
    name: str,
    model: str,
    hardware: str,
    profile: str,
    arch: str,
    deployment: str,
    workload: str,
    overrides: str = "",
    ffn: tuple[str, str] = ("", ""),
    link_gbps: str = "",
) -> Sheet:
    meta = {
        "case": name,
        "model": model,
        "hardware": hardware,
        "profile": profile,
        "architecture": arch,
        "deployment": deployment,
        "workload": workload,
        "hardware_overrides": overrides,
        "ffn_hardware": ffn[0],
        "ffn_profile": ffn[1],
        "link_gbps": link_gbps,
    }
    return Sheet(meta, MODEL_VALUES)


WL_DS = (
    "tpot_ms=50;context_tokens=4096;mtp_acceptance=1.7;tokens_per_step=1;step_gap_ms=15;"
    "dp_imbalance=1;routing=worst-case;shared_experts=attention"
)
WL_DS_NL = WL_DS.replace("worst-case", "node-limited")
WL_OTHER = (
    "tpot_ms=50;context_tokens=4096;mtp_acceptance=1;tokens_per_step=1;step_gap_ms=10;"
    "dp_imbalance=1;routing=worst-case;shared_experts=attention"
)
WL_ST_FFN = WL_OTHER.replace("shared_experts=attention", "shared_experts=ffn")
WL_QW_DP = WL_OTHER.replace("dp_imbalance=1", "dp_imbalance=0.9")


def own_pace(
    s: Sheet,
    layers: int,
    n_bo: int,
    gap_ms: float,
    mtp: float,
    serving: str,
    note: str = "sigma*serving GPUs*n*L/T",
) -> None:
    """Common tail: step time, TPOT, throughput, utilisation (docs/model.md §3, §9)."""
    s.let("step_gap_s", f"{gap_ms}/1000", "s")
    s.let("step_s", f"step_gap_s + {layers}*{n_bo}*stage_s", "s")
    s.let("tpot_ms", f"step_s/{mtp}*1000", "ms")
    s.let("tokens_per_s", f"{serving}*{mtp}/step_s", "tokens/s", note)
    s.let("tokens_per_s_per_gpu", "tokens_per_s/gpus", "tokens/s/GPU")


# ---- case 1: DeepSeek-V3, H800 paper, AFD --------------------------------------------------
# h800 paper: fp8 1979, bf16 989 TFLOP/s, 80 GB, 3.35 TB/s, scale-up 160 ([paper]),
# scale-out 50 GB/s, efficiency 1, domain 8 GPUs, usable 0.9.
s = case("ds-h800-paper-afd", "deepseek-v3", "h800", "paper", "afd",
         "N_A=6;N_F=2;n=354;N_BO=3;R=0;g=8;eps=1", WL_DS)  # fmt: skip
s.let("budget_s", "(50/1000*1.7 - 15/1000)/(61*3)", "s")
s.let("micro_batch_size", "ceil(354/3)", "sequences")
s.let("attention_flop_s", "118*1*ds_core*4096/989e12 + 118*1*2*ds_stage_att/1979e12", "s")
s.let("attention_byte_s", "(ds_stage_att*1 + 118*ds_kv_layer)/3.35e12", "s")
s.let("attention_latency_s", "0/1e6", "s", "paper profile: no fixed times")
s.let("attention_s", "attention_latency_s + max(attention_flop_s, attention_byte_s)", "s")
s.let("experts_per_gpu", "ceil((256+0)/(2*8))", "experts")
s.mid("X", "1*6*8*118*1", "tokens", "sigma*N_A*g*b*q per micro-batch")
s.let("pairs_mean", "X*8/(2*8)", "pairs")
s.let("pairs_hot", "pairs_mean*1", "pairs")
s.mid("D", "min(8, ceil(16/8))", "domains", "FFN pool of 16 GPUs spans 2 domains; worst case")
s.mid("node_load", "(1 + 8 - 1)/8", "1")
s.mid("out_copies", "X*D/16*node_load", "token copies")
s.let("ffn_scaleout_dispatch_s", "out_copies*7168*1/50e9", "s")
s.let("ffn_scaleout_combine_s", "out_copies*7168*2/50e9", "s")
s.let("ffn_scaleout_s", "ffn_scaleout_dispatch_s + ffn_scaleout_combine_s", "s")
s.let("ffn_scaleup_dispatch_s", "pairs_hot*7168*1/160e9", "s")
s.let("ffn_scaleup_combine_s", "pairs_hot*7168*2/160e9", "s")
s.let("ffn_scaleup_s", "ffn_scaleup_dispatch_s + ffn_scaleup_combine_s", "s")
s.let("gemm_compute_s", "6*pairs_hot*7168*2048/1979e12", "s")
s.let("gemm_weight_s", "16*ds_expert/3.35e12", "s")
s.let("gemm_latency_s", "0/1e6", "s", "paper profile: no fixed times")
s.let("gemm_s", "gemm_latency_s + max(gemm_compute_s, gemm_weight_s)", "s")
s.let("attention_dispatch_s", "118*1*D*7168*1/50e9", "s", "D copies per token on the NIC")
s.let("attention_combine_s", "118*1*D*7168*2/50e9", "s")
s.let("attention_wire_s", "attention_dispatch_s + attention_combine_s", "s")
s.let("attention_weight_bytes", "61*ds_proj*1 + ds_side_att*1 + 2*129280*7168*2", "bytes")
s.let("attention_kv_bytes", "354*ds_kv_layer*61", "bytes")
s.let("attention_buffer_bytes", "354*1*D*7168*3", "bytes")
s.let(
    "attention_bytes",
    "attention_weight_bytes + attention_kv_bytes + attention_buffer_bytes",
    "bytes",
)
s.let("ffn_weight_bytes", "58*16*ds_expert", "bytes")
s.let("ffn_buffer_bytes", "1*6*8*354*1*8/16*1*7168*3", "bytes", "hot pairs of all n sequences")
s.let("ffn_bytes", "ffn_weight_bytes + ffn_buffer_bytes", "bytes")
s.let("usable_bytes", "80e9*0.9", "bytes")
s.let("ffn_usable_bytes", "80e9*0.9", "bytes", "FFN GPUs: the same hardware")
s.let("stage_s", "max(attention_s, attention_wire_s, gemm_s, ffn_scaleout_s, ffn_scaleup_s)", "s")
s.let("gpus", "(6+2)*8", "GPUs")
own_pace(s, 61, 3, 15, 1.7, "1*48*354")
s.mid("useful_flop", "6*pairs_mean*7168*2048", "FLOP")
s.let("ffn_hfu", "useful_flop/(stage_s*1979e12)", "1")
s.let("ffn_ofu", "useful_flop/(gemm_s*1979e12)", "1")
s.let("temporal_sparsity", "gemm_s/stage_s", "1")

# ---- case 2: DeepSeek-V3, H800 paper, EP ---------------------------------------------------
s = case("ds-h800-paper-ep", "deepseek-v3", "h800", "paper", "ep",
         "N=16;n=332;N_BO=2;R=0;g=8;eps=1", WL_DS)  # fmt: skip
s.let("budget_s", "(50/1000*1.7 - 15/1000)/(61*2)", "s")
s.let("micro_batch_size", "ceil(332/2)", "sequences")
s.let("attention_flop_s", "166*1*ds_core*4096/989e12 + 166*1*2*ds_stage_att/1979e12", "s")
s.let("attention_byte_s", "(ds_stage_att*1 + 166*ds_kv_layer)/3.35e12", "s")
s.let("attention_latency_s", "0/1e6", "s", "paper profile: no fixed times")
s.let("attention_s", "attention_latency_s + max(attention_flop_s, attention_byte_s)", "s")
s.let("experts_per_gpu", "ceil((256+0)/(16*8))", "experts")
s.let("pairs_mean", "1*166*1*8", "pairs", "sigma*b*q*K")
s.let("pairs_hot", "pairs_mean*1", "pairs")
s.mid("remote", "min(min(8, ceil(128/8)), ceil(128/8) - 1)", "domains", "16 domains, D = 8")
s.mid("out_copies", "1*166*1*remote*(1 + 8 - 1)/8", "token copies")
s.let("scaleout_dispatch_s", "out_copies*7168*1/50e9", "s")
s.let("scaleout_combine_s", "out_copies*7168*2/50e9", "s")
s.let("scaleout_s", "scaleout_dispatch_s + scaleout_combine_s", "s")
s.let("scaleup_dispatch_s", "pairs_hot*7168*1/160e9", "s")
s.let("scaleup_combine_s", "pairs_hot*7168*2/160e9", "s")
s.let("scaleup_s", "scaleup_dispatch_s + scaleup_combine_s", "s")
s.let("gemm_compute_s", "6*pairs_hot*7168*2048/1979e12", "s")
s.let("gemm_weight_s", "2*ds_expert/3.35e12", "s")
s.let("gemm_latency_s", "0/1e6", "s", "paper profile: no fixed times")
s.let("gemm_s", "gemm_latency_s + max(gemm_compute_s, gemm_weight_s)", "s")
s.let("attention_weight_bytes", "61*ds_proj*1 + ds_side_att*1 + 2*129280*7168*2", "bytes")
s.let("expert_weight_bytes", "58*2*ds_expert", "bytes")
s.let("kv_bytes", "332*ds_kv_layer*61", "bytes")
s.let("buffer_bytes", "1*332*1*8*1*7168*3", "bytes")
s.let(
    "gpu_bytes", "attention_weight_bytes + expert_weight_bytes + kv_bytes + buffer_bytes", "bytes"
)
s.let("usable_bytes", "80e9*0.9", "bytes")
s.let("serial_s", "attention_s + gemm_s", "s", "two micro-batches: the all-to-all overlaps")
s.let("stage_s", "max(serial_s, scaleout_s, scaleup_s)", "s")
s.let("gpus", "16*8", "GPUs")
own_pace(s, 61, 2, 15, 1.7, "1*128*332")
s.mid("useful_flop", "6*pairs_mean*7168*2048", "FLOP")
s.let("ffn_hfu", "useful_flop/(stage_s*1979e12)", "1")
s.let("ffn_ofu", "useful_flop/(gemm_s*1979e12)", "1")
s.let("temporal_sparsity", "gemm_s/stage_s", "1")

# ---- case 3: DeepSeek-V3, H200 sustained, AFD, node-limited, R 32, eps 1.25 -----------------
# h200 sustained: fp8 1979*0.56, attention 0.67 of bf16 989 / fp8 1979, HBM 4.8*0.9 TB/s,
# scale-up 450*0.75, scale-out 50*0.8 GB/s, 141 GB * 0.9, domain 8 GPUs.
s = case("ds-h200-sustained-afd", "deepseek-v3", "h200", "sustained", "afd",
         "N_A=8;N_F=8;n=200;N_BO=3;R=32;g=8;eps=1.25", WL_DS_NL)  # fmt: skip
s.let("budget_s", "(50/1000*1.7 - 15/1000)/(61*3)", "s")
s.let("micro_batch_size", "ceil(200/3)", "sequences")
s.let(
    "attention_flop_s",
    "67*1*ds_core*4096/(989e12*0.67) + 67*1*2*ds_stage_att/(1979e12*0.67)",
    "s",
)
s.let("attention_byte_s", "(ds_stage_att*1 + 67*ds_kv_layer)/(4.8e12*0.9)", "s")
s.let("attention_latency_s", "13/1e6", "s", "[latency] of the hardware file")
s.let("attention_s", "attention_latency_s + max(attention_flop_s, attention_byte_s)", "s")
s.let("experts_per_gpu", "ceil((256+32)/(8*8))", "experts")
s.mid("X", "1*8*8*67*1", "tokens")
s.let("pairs_mean", "X*8/(8*8)", "pairs")
s.let("pairs_hot", "pairs_mean*1.25", "pairs")
s.mid(
    "D",
    "min(8, 8, 4*1)",
    "domains",
    "8 domains; 8 groups of 32 experts, each inside one domain; topk_group 4 -> 4 domains",
)
s.mid("node_load", "(1.25 + 8 - 1)/8", "1")
s.mid("out_copies", "X*D/64*node_load", "token copies")
s.let("ffn_scaleout_dispatch_s", "42/1e6 + out_copies*7168*1/(50e9*0.8)", "s")
s.let("ffn_scaleout_combine_s", "76/1e6 + out_copies*7168*2/(50e9*0.8)", "s")
s.let("ffn_scaleout_s", "ffn_scaleout_dispatch_s + ffn_scaleout_combine_s", "s")
s.let("ffn_scaleup_dispatch_s", "14/1e6 + pairs_hot*7168*1/(450e9*0.75)", "s")
s.let("ffn_scaleup_combine_s", "9/1e6 + pairs_hot*7168*2/(450e9*0.75)", "s")
s.let("ffn_scaleup_s", "ffn_scaleup_dispatch_s + ffn_scaleup_combine_s", "s")
s.let("gemm_compute_s", "6*pairs_hot*7168*2048/(1979e12*0.56)", "s")
s.let("gemm_weight_s", "5*ds_expert/(4.8e12*0.9)", "s")
s.let("gemm_latency_s", "5/1e6", "s", "[latency] of the hardware file")
s.let("gemm_s", "gemm_latency_s + max(gemm_compute_s, gemm_weight_s)", "s")
s.let("attention_dispatch_s", "42/1e6 + 67*1*D*7168*1/(50e9*0.8)", "s")
s.let("attention_combine_s", "76/1e6 + 67*1*D*7168*2/(50e9*0.8)", "s")
s.let("attention_wire_s", "attention_dispatch_s + attention_combine_s", "s")
s.let("attention_weight_bytes", "61*ds_proj*1 + ds_side_att*1 + 2*129280*7168*2", "bytes")
s.let("attention_kv_bytes", "200*ds_kv_layer*61", "bytes")
s.let("attention_buffer_bytes", "200*1*D*7168*3", "bytes")
s.let(
    "attention_bytes",
    "attention_weight_bytes + attention_kv_bytes + attention_buffer_bytes",
    "bytes",
)
s.let("ffn_weight_bytes", "58*5*ds_expert", "bytes")
s.let("ffn_buffer_bytes", "1*8*8*200*1*8/64*1.25*7168*3", "bytes")
s.let("ffn_bytes", "ffn_weight_bytes + ffn_buffer_bytes", "bytes")
s.let("usable_bytes", "141e9*0.9", "bytes")
s.let("ffn_usable_bytes", "141e9*0.9", "bytes", "FFN GPUs: the same hardware")
s.let("stage_s", "max(attention_s, attention_wire_s, gemm_s, ffn_scaleout_s, ffn_scaleup_s)", "s")
s.let("gpus", "(8+8)*8", "GPUs")
own_pace(s, 61, 3, 15, 1.7, "1*64*200")
s.mid("useful_flop", "6*pairs_mean*7168*2048", "FLOP")
s.let("ffn_hfu", "useful_flop/(stage_s*1979e12)", "1")
s.let("ffn_ofu", "useful_flop/(gemm_s*1979e12)", "1")
s.let("temporal_sparsity", "gemm_s/stage_s", "1")

# ---- case 4: DeepSeek-V3, H200 sustained, EP, node-limited, eps 1.25 -----------------------
s = case("ds-h200-sustained-ep", "deepseek-v3", "h200", "sustained", "ep",
         "N=8;n=250;N_BO=2;R=0;g=8;eps=1.25", WL_DS_NL)  # fmt: skip
s.let("budget_s", "(50/1000*1.7 - 15/1000)/(61*2)", "s")
s.let("micro_batch_size", "ceil(250/2)", "sequences")
s.let(
    "attention_flop_s",
    "125*1*ds_core*4096/(989e12*0.67) + 125*1*2*ds_stage_att/(1979e12*0.67)",
    "s",
)
s.let("attention_byte_s", "(ds_stage_att*1 + 125*ds_kv_layer)/(4.8e12*0.9)", "s")
s.let("attention_latency_s", "13/1e6", "s", "[latency] of the hardware file")
s.let("attention_s", "attention_latency_s + max(attention_flop_s, attention_byte_s)", "s")
s.let("experts_per_gpu", "ceil((256+0)/(8*8))", "experts")
s.let("pairs_mean", "1*125*1*8", "pairs")
s.let("pairs_hot", "pairs_mean*1.25", "pairs")
s.mid("remote", "min(min(8, 8, 4*1), 8 - 1)", "domains", "node-limited D = 4 of 8 domains")
s.mid("out_copies", "1*125*1*remote*(1.25 + 8 - 1)/8", "token copies")
s.let("scaleout_dispatch_s", "42/1e6 + out_copies*7168*1/(50e9*0.8)", "s")
s.let("scaleout_combine_s", "76/1e6 + out_copies*7168*2/(50e9*0.8)", "s")
s.let("scaleout_s", "scaleout_dispatch_s + scaleout_combine_s", "s")
s.let("scaleup_dispatch_s", "14/1e6 + pairs_hot*7168*1/(450e9*0.75)", "s")
s.let("scaleup_combine_s", "9/1e6 + pairs_hot*7168*2/(450e9*0.75)", "s")
s.let("scaleup_s", "scaleup_dispatch_s + scaleup_combine_s", "s")
s.let("gemm_compute_s", "6*pairs_hot*7168*2048/(1979e12*0.56)", "s")
s.let("gemm_weight_s", "4*ds_expert/(4.8e12*0.9)", "s")
s.let("gemm_latency_s", "5/1e6", "s", "[latency] of the hardware file")
s.let("gemm_s", "gemm_latency_s + max(gemm_compute_s, gemm_weight_s)", "s")
s.let("attention_weight_bytes", "61*ds_proj*1 + ds_side_att*1 + 2*129280*7168*2", "bytes")
s.let("expert_weight_bytes", "58*4*ds_expert", "bytes")
s.let("kv_bytes", "250*ds_kv_layer*61", "bytes")
s.let("buffer_bytes", "1*250*1*8*1.25*7168*3", "bytes")
s.let(
    "gpu_bytes", "attention_weight_bytes + expert_weight_bytes + kv_bytes + buffer_bytes", "bytes"
)
s.let("usable_bytes", "141e9*0.9", "bytes")
s.let("serial_s", "attention_s + gemm_s", "s", "two micro-batches: the all-to-all overlaps")
s.let("stage_s", "max(serial_s, scaleout_s, scaleup_s)", "s")
s.let("gpus", "8*8", "GPUs")
own_pace(s, 61, 2, 15, 1.7, "1*64*250")
s.mid("useful_flop", "6*pairs_mean*7168*2048", "FLOP")
s.let("ffn_hfu", "useful_flop/(stage_s*1979e12)", "1")
s.let("ffn_ofu", "useful_flop/(gemm_s*1979e12)", "1")
s.let("temporal_sparsity", "gemm_s/stage_s", "1")

# ---- case 5: Step-3, H800 paper, AFD, shared experts on the FFN side, eps 1.2 -------------
s = case("st-h800-paper-afd", "step3", "h800", "paper", "afd",
         "N_A=4;N_F=2;n=301;N_BO=3;R=0;g=8;eps=1.2", WL_ST_FFN)  # fmt: skip
s.let("budget_s", "(50/1000*1 - 10/1000)/(61*3)", "s")
s.let("micro_batch_size", "ceil(301/3)", "sequences")
s.let("attention_flop_s", "101*1*st_core*4096/989e12 + 101*1*2*st_stage_ffn/1979e12", "s")
s.let("attention_byte_s", "(st_stage_ffn*1 + 101*st_kv_layer)/3.35e12", "s")
s.let("attention_latency_s", "0/1e6", "s", "paper profile: no fixed times")
s.let("attention_s", "attention_latency_s + max(attention_flop_s, attention_byte_s)", "s")
s.let("experts_per_gpu", "ceil((48+0)/(2*8))", "experts")
s.mid("X", "1*4*8*101*1", "tokens")
s.let("pairs_mean", "X*3/(2*8)", "pairs")
s.let("pairs_hot", "pairs_mean*1.2", "pairs")
s.mid("D", "min(3, ceil(16/8))", "domains")
s.mid("out_copies", "X*D/16*(1.2 + 8 - 1)/8", "token copies")
s.let("ffn_scaleout_dispatch_s", "out_copies*7168*1/50e9", "s")
s.let("ffn_scaleout_combine_s", "out_copies*7168*2/50e9", "s")
s.let("ffn_scaleout_s", "ffn_scaleout_dispatch_s + ffn_scaleout_combine_s", "s")
s.let("ffn_scaleup_dispatch_s", "pairs_hot*7168*1/160e9", "s")
s.let("ffn_scaleup_combine_s", "pairs_hot*7168*2/160e9", "s")
s.let("ffn_scaleup_s", "ffn_scaleup_dispatch_s + ffn_scaleup_combine_s", "s")
s.mid(
    "shared_tokens",
    "X/16",
    "tokens",
    "every token runs the shared expert once, spread evenly (dense: eps does not apply)",
)
s.let(
    "gemm_compute_s",
    "6*pairs_hot*7168*5120/1979e12 + shared_tokens*2*st_shared/1979e12",
    "s",
    "shared FLOPs 2*S*3*H*M_s per token (issue 8 fix: no extra factor 3)",
)
s.let("gemm_weight_s", "(3*st_expert + st_shared*1)/3.35e12", "s")
s.let("gemm_latency_s", "0/1e6", "s", "paper profile: no fixed times")
s.let("gemm_s", "gemm_latency_s + max(gemm_compute_s, gemm_weight_s)", "s")
s.let("attention_dispatch_s", "101*1*D*7168*1/50e9", "s")
s.let("attention_combine_s", "101*1*D*7168*2/50e9", "s")
s.let("attention_wire_s", "attention_dispatch_s + attention_combine_s", "s")
s.let("attention_weight_bytes", "61*st_proj*1 + st_side_ffn*1 + 2*128815*7168*2", "bytes")
s.let("attention_kv_bytes", "301*st_kv_layer*61", "bytes")
s.let("attention_buffer_bytes", "301*1*D*7168*3", "bytes")
s.let(
    "attention_bytes",
    "attention_weight_bytes + attention_kv_bytes + attention_buffer_bytes",
    "bytes",
)
s.let("ffn_weight_bytes", "56*(3*st_expert + st_shared*1)", "bytes")
s.let("ffn_buffer_bytes", "1*4*8*301*1*3/16*1.2*7168*3", "bytes")
s.let("ffn_bytes", "ffn_weight_bytes + ffn_buffer_bytes", "bytes")
s.let("usable_bytes", "80e9*0.9", "bytes")
s.let("ffn_usable_bytes", "80e9*0.9", "bytes", "FFN GPUs: the same hardware")
s.let("stage_s", "max(attention_s, attention_wire_s, gemm_s, ffn_scaleout_s, ffn_scaleup_s)", "s")
s.let("gpus", "(4+2)*8", "GPUs")
own_pace(s, 61, 3, 10, 1, "1*32*301")
s.mid("useful_flop", "6*pairs_mean*7168*5120", "FLOP", "routed experts only")
s.let("ffn_hfu", "useful_flop/(stage_s*1979e12)", "1")
s.let("ffn_ofu", "useful_flop/(gemm_s*1979e12)", "1")
s.let("temporal_sparsity", "gemm_s/stage_s", "1")

# ---- case 6: Step-3, H800 paper, EP, workload says shared_experts = ffn (EP ignores it) ------
s = case("st-h800-paper-ep", "step3", "h800", "paper", "ep",
         "N=4;n=200;N_BO=2;R=0;g=8;eps=1", WL_ST_FFN)  # fmt: skip
s.let("budget_s", "(50/1000*1 - 10/1000)/(61*2)", "s")
s.let("micro_batch_size", "ceil(200/2)", "sequences")
s.let(
    "attention_flop_s",
    "100*1*st_core*4096/989e12 + 100*1*2*st_stage_att/1979e12",
    "s",
    "EP keeps the shared expert in the attention-side dense work (issue 8 fix)",
)
s.let("attention_byte_s", "(st_stage_att*1 + 100*st_kv_layer)/3.35e12", "s")
s.let("attention_latency_s", "0/1e6", "s", "paper profile: no fixed times")
s.let("attention_s", "attention_latency_s + max(attention_flop_s, attention_byte_s)", "s")
s.let("experts_per_gpu", "ceil((48+0)/(4*8))", "experts")
s.let("pairs_mean", "1*100*1*3", "pairs")
s.let("pairs_hot", "pairs_mean*1", "pairs")
s.mid("remote", "min(min(3, ceil(32/8)), ceil(32/8) - 1)", "domains")
s.mid("out_copies", "1*100*1*remote*(1 + 8 - 1)/8", "token copies")
s.let("scaleout_dispatch_s", "out_copies*7168*1/50e9", "s")
s.let("scaleout_combine_s", "out_copies*7168*2/50e9", "s")
s.let("scaleout_s", "scaleout_dispatch_s + scaleout_combine_s", "s")
s.let("scaleup_dispatch_s", "pairs_hot*7168*1/160e9", "s")
s.let("scaleup_combine_s", "pairs_hot*7168*2/160e9", "s")
s.let("scaleup_s", "scaleup_dispatch_s + scaleup_combine_s", "s")
s.let("gemm_compute_s", "6*pairs_hot*7168*5120/1979e12", "s")
s.let("gemm_weight_s", "2*st_expert/3.35e12", "s")
s.let("gemm_latency_s", "0/1e6", "s", "paper profile: no fixed times")
s.let("gemm_s", "gemm_latency_s + max(gemm_compute_s, gemm_weight_s)", "s")
s.let(
    "attention_weight_bytes",
    "61*st_proj*1 + st_side_att*1 + 2*128815*7168*2",
    "bytes",
    "shared expert weights included",
)
s.let("expert_weight_bytes", "56*2*st_expert", "bytes")
s.let("kv_bytes", "200*st_kv_layer*61", "bytes")
s.let("buffer_bytes", "1*200*1*3*1*7168*3", "bytes")
s.let(
    "gpu_bytes", "attention_weight_bytes + expert_weight_bytes + kv_bytes + buffer_bytes", "bytes"
)
s.let("usable_bytes", "80e9*0.9", "bytes")
s.let("serial_s", "attention_s + gemm_s", "s", "two micro-batches: the all-to-all overlaps")
s.let("stage_s", "max(serial_s, scaleout_s, scaleup_s)", "s")
s.let("gpus", "4*8", "GPUs")
own_pace(s, 61, 2, 10, 1, "1*32*200")
s.mid("useful_flop", "6*pairs_mean*7168*5120", "FLOP")
s.let("ffn_hfu", "useful_flop/(stage_s*1979e12)", "1")
s.let("ffn_ofu", "useful_flop/(gemm_s*1979e12)", "1")
s.let("temporal_sparsity", "gemm_s/stage_s", "1")

# ---- case 7: Step-3, H200 sustained, AFD, N_BO 4, eps 1.1 -----------------------------------
s = case("st-h200-sustained-afd", "step3", "h200", "sustained", "afd",
         "N_A=3;N_F=4;n=128;N_BO=4;R=0;g=8;eps=1.1", WL_OTHER)  # fmt: skip
s.let("budget_s", "(50/1000*1 - 10/1000)/(61*4)", "s")
s.let("micro_batch_size", "ceil(128/4)", "sequences")
s.let(
    "attention_flop_s",
    "32*1*st_core*4096/(989e12*0.67) + 32*1*2*st_stage_att/(1979e12*0.67)",
    "s",
)
s.let("attention_byte_s", "(st_stage_att*1 + 32*st_kv_layer)/(4.8e12*0.9)", "s")
s.let("attention_latency_s", "13/1e6", "s", "[latency] of the hardware file")
s.let("attention_s", "attention_latency_s + max(attention_flop_s, attention_byte_s)", "s")
s.let("experts_per_gpu", "ceil((48+0)/(4*8))", "experts")
s.mid("X", "1*3*8*32*1", "tokens")
s.let("pairs_mean", "X*3/(4*8)", "pairs")
s.let("pairs_hot", "pairs_mean*1.1", "pairs")
s.mid("D", "min(3, ceil(32/8))", "domains")
s.mid("out_copies", "X*D/32*(1.1 + 8 - 1)/8", "token copies")
s.let("ffn_scaleout_dispatch_s", "42/1e6 + out_copies*7168*1/(50e9*0.8)", "s")
s.let("ffn_scaleout_combine_s", "76/1e6 + out_copies*7168*2/(50e9*0.8)", "s")
s.let("ffn_scaleout_s", "ffn_scaleout_dispatch_s + ffn_scaleout_combine_s", "s")
s.let("ffn_scaleup_dispatch_s", "14/1e6 + pairs_hot*7168*1/(450e9*0.75)", "s")
s.let("ffn_scaleup_combine_s", "9/1e6 + pairs_hot*7168*2/(450e9*0.75)", "s")
s.let("ffn_scaleup_s", "ffn_scaleup_dispatch_s + ffn_scaleup_combine_s", "s")
s.let("gemm_compute_s", "6*pairs_hot*7168*5120/(1979e12*0.56)", "s")
s.let("gemm_weight_s", "2*st_expert/(4.8e12*0.9)", "s")
s.let("gemm_latency_s", "5/1e6", "s", "[latency] of the hardware file")
s.let("gemm_s", "gemm_latency_s + max(gemm_compute_s, gemm_weight_s)", "s")
s.let("attention_dispatch_s", "42/1e6 + 32*1*D*7168*1/(50e9*0.8)", "s")
s.let("attention_combine_s", "76/1e6 + 32*1*D*7168*2/(50e9*0.8)", "s")
s.let("attention_wire_s", "attention_dispatch_s + attention_combine_s", "s")
s.let("attention_weight_bytes", "61*st_proj*1 + st_side_att*1 + 2*128815*7168*2", "bytes")
s.let("attention_kv_bytes", "128*st_kv_layer*61", "bytes")
s.let("attention_buffer_bytes", "128*1*D*7168*3", "bytes")
s.let(
    "attention_bytes",
    "attention_weight_bytes + attention_kv_bytes + attention_buffer_bytes",
    "bytes",
)
s.let("ffn_weight_bytes", "56*2*st_expert", "bytes")
s.let("ffn_buffer_bytes", "1*3*8*128*1*3/32*1.1*7168*3", "bytes")
s.let("ffn_bytes", "ffn_weight_bytes + ffn_buffer_bytes", "bytes")
s.let("usable_bytes", "141e9*0.9", "bytes")
s.let("ffn_usable_bytes", "141e9*0.9", "bytes", "FFN GPUs: the same hardware")
s.let("stage_s", "max(attention_s, attention_wire_s, gemm_s, ffn_scaleout_s, ffn_scaleup_s)", "s")
s.let("gpus", "(3+4)*8", "GPUs")
own_pace(s, 61, 4, 10, 1, "1*24*128")
s.mid("useful_flop", "6*pairs_mean*7168*5120", "FLOP")
s.let("ffn_hfu", "useful_flop/(stage_s*1979e12)", "1")
s.let("ffn_ofu", "useful_flop/(gemm_s*1979e12)", "1")
s.let("temporal_sparsity", "gemm_s/stage_s", "1")

# ---- case 8: Step-3, H200 sustained, EP, eps 1.1 ---------------------------------------------
s = case("st-h200-sustained-ep", "step3", "h200", "sustained", "ep",
         "N=6;n=99;N_BO=2;R=0;g=8;eps=1.1", WL_OTHER)  # fmt: skip
s.let("budget_s", "(50/1000*1 - 10/1000)/(61*2)", "s")
s.let("micro_batch_size", "ceil(99/2)", "sequences")
s.let(
    "attention_flop_s",
    "50*1*st_core*4096/(989e12*0.67) + 50*1*2*st_stage_att/(1979e12*0.67)",
    "s",
)
s.let("attention_byte_s", "(st_stage_att*1 + 50*st_kv_layer)/(4.8e12*0.9)", "s")
s.let("attention_latency_s", "13/1e6", "s", "[latency] of the hardware file")
s.let("attention_s", "attention_latency_s + max(attention_flop_s, attention_byte_s)", "s")
s.let("experts_per_gpu", "ceil((48+0)/(6*8))", "experts")
s.let("pairs_mean", "1*50*1*3", "pairs")
s.let("pairs_hot", "pairs_mean*1.1", "pairs")
s.mid("remote", "min(min(3, 6), 6 - 1)", "domains")
s.mid("out_copies", "1*50*1*remote*(1.1 + 8 - 1)/8", "token copies")
s.let("scaleout_dispatch_s", "42/1e6 + out_copies*7168*1/(50e9*0.8)", "s")
s.let("scaleout_combine_s", "76/1e6 + out_copies*7168*2/(50e9*0.8)", "s")
s.let("scaleout_s", "scaleout_dispatch_s + scaleout_combine_s", "s")
s.let("scaleup_dispatch_s", "14/1e6 + pairs_hot*7168*1/(450e9*0.75)", "s")
s.let("scaleup_combine_s", "9/1e6 + pairs_hot*7168*2/(450e9*0.75)", "s")
s.let("scaleup_s", "scaleup_dispatch_s + scaleup_combine_s", "s")
s.let("gemm_compute_s", "6*pairs_hot*7168*5120/(1979e12*0.56)", "s")
s.let("gemm_weight_s", "1*st_expert/(4.8e12*0.9)", "s")
s.let("gemm_latency_s", "5/1e6", "s", "[latency] of the hardware file")
s.let("gemm_s", "gemm_latency_s + max(gemm_compute_s, gemm_weight_s)", "s")
s.let("attention_weight_bytes", "61*st_proj*1 + st_side_att*1 + 2*128815*7168*2", "bytes")
s.let("expert_weight_bytes", "56*1*st_expert", "bytes")
s.let("kv_bytes", "99*st_kv_layer*61", "bytes")
s.let("buffer_bytes", "1*99*1*3*1.1*7168*3", "bytes")
s.let(
    "gpu_bytes", "attention_weight_bytes + expert_weight_bytes + kv_bytes + buffer_bytes", "bytes"
)
s.let("usable_bytes", "141e9*0.9", "bytes")
s.let("serial_s", "attention_s + gemm_s", "s", "two micro-batches: the all-to-all overlaps")
s.let("stage_s", "max(serial_s, scaleout_s, scaleup_s)", "s")
s.let("gpus", "6*8", "GPUs")
own_pace(s, 61, 2, 10, 1, "1*48*99")
s.mid("useful_flop", "6*pairs_mean*7168*5120", "FLOP")
s.let("ffn_hfu", "useful_flop/(stage_s*1979e12)", "1")
s.let("ffn_ofu", "useful_flop/(gemm_s*1979e12)", "1")
s.let("temporal_sparsity", "gemm_s/stage_s", "1")

# ---- case 9: Qwen3-235B, H800 paper, AFD, dp_imbalance 0.9 ----------------------------------
s = case("qw-h800-paper-afd", "qwen3-235b-a22b", "h800", "paper", "afd",
         "N_A=5;N_F=3;n=256;N_BO=3;R=0;g=8;eps=1", WL_QW_DP)  # fmt: skip
s.let("budget_s", "(50/1000*1 - 10/1000)/(94*3)", "s")
s.let("micro_batch_size", "ceil(256/3)", "sequences")
s.let("attention_flop_s", "86*1*qw_core*4096/989e12 + 86*1*2*(qw_proj + 0/94)/1979e12", "s")
s.let("attention_byte_s", "((qw_proj + 0/94)*1 + 86*qw_kv_layer)/3.35e12", "s")
s.let("attention_latency_s", "0/1e6", "s", "paper profile: no fixed times")
s.let("attention_s", "attention_latency_s + max(attention_flop_s, attention_byte_s)", "s")
s.let("experts_per_gpu", "ceil((128+0)/(3*8))", "experts")
s.mid("X", "0.9*5*8*86*1", "tokens", "sigma_DP 0.9 of the attention slots carry tokens")
s.let("pairs_mean", "X*8/(3*8)", "pairs")
s.let("pairs_hot", "pairs_mean*1", "pairs")
s.mid("D", "min(8, ceil(24/8))", "domains")
s.mid("out_copies", "X*D/24*(1 + 8 - 1)/8", "token copies")
s.let("ffn_scaleout_dispatch_s", "out_copies*4096*1/50e9", "s")
s.let("ffn_scaleout_combine_s", "out_copies*4096*2/50e9", "s")
s.let("ffn_scaleout_s", "ffn_scaleout_dispatch_s + ffn_scaleout_combine_s", "s")
s.let("ffn_scaleup_dispatch_s", "pairs_hot*4096*1/160e9", "s")
s.let("ffn_scaleup_combine_s", "pairs_hot*4096*2/160e9", "s")
s.let("ffn_scaleup_s", "ffn_scaleup_dispatch_s + ffn_scaleup_combine_s", "s")
s.let("gemm_compute_s", "6*pairs_hot*4096*1536/1979e12", "s")
s.let("gemm_weight_s", "6*qw_expert/3.35e12", "s")
s.let("gemm_latency_s", "0/1e6", "s", "paper profile: no fixed times")
s.let("gemm_s", "gemm_latency_s + max(gemm_compute_s, gemm_weight_s)", "s")
s.let("attention_dispatch_s", "86*1*D*4096*1/50e9", "s", "the hottest attention GPU is full")
s.let("attention_combine_s", "86*1*D*4096*2/50e9", "s")
s.let("attention_wire_s", "attention_dispatch_s + attention_combine_s", "s")
s.let("attention_weight_bytes", "94*qw_proj*1 + 2*151936*4096*2", "bytes")
s.let("attention_kv_bytes", "256*qw_kv_layer*94", "bytes")
s.let("attention_buffer_bytes", "256*1*D*4096*3", "bytes")
s.let(
    "attention_bytes",
    "attention_weight_bytes + attention_kv_bytes + attention_buffer_bytes",
    "bytes",
)
s.let("ffn_weight_bytes", "94*6*qw_expert", "bytes")
s.let("ffn_buffer_bytes", "0.9*5*8*256*1*8/24*1*4096*3", "bytes")
s.let("ffn_bytes", "ffn_weight_bytes + ffn_buffer_bytes", "bytes")
s.let("usable_bytes", "80e9*0.9", "bytes")
s.let("ffn_usable_bytes", "80e9*0.9", "bytes", "FFN GPUs: the same hardware")
s.let("stage_s", "max(attention_s, attention_wire_s, gemm_s, ffn_scaleout_s, ffn_scaleup_s)", "s")
s.let("gpus", "(5+3)*8", "GPUs")
own_pace(s, 94, 3, 10, 1, "0.9*40*256")
s.mid("useful_flop", "6*pairs_mean*4096*1536", "FLOP")
s.let("ffn_hfu", "useful_flop/(stage_s*1979e12)", "1")
s.let("ffn_ofu", "useful_flop/(gemm_s*1979e12)", "1")
s.let("temporal_sparsity", "gemm_s/stage_s", "1")

# ---- case 10: Qwen3-235B, H800 paper, EP, dp_imbalance 0.9 ----------------------------------
s = case("qw-h800-paper-ep", "qwen3-235b-a22b", "h800", "paper", "ep",
         "N=12;n=180;N_BO=2;R=0;g=8;eps=1", WL_QW_DP)  # fmt: skip
s.let("budget_s", "(50/1000*1 - 10/1000)/(94*2)", "s")
s.let("micro_batch_size", "ceil(180/2)", "sequences")
s.let("attention_flop_s", "90*1*qw_core*4096/989e12 + 90*1*2*qw_proj/1979e12", "s")
s.let("attention_byte_s", "(qw_proj*1 + 90*qw_kv_layer)/3.35e12", "s")
s.let("attention_latency_s", "0/1e6", "s", "paper profile: no fixed times")
s.let("attention_s", "attention_latency_s + max(attention_flop_s, attention_byte_s)", "s")
s.let("experts_per_gpu", "ceil((128+0)/(12*8))", "experts")
s.let("pairs_mean", "0.9*90*1*8", "pairs")
s.let("pairs_hot", "pairs_mean*1", "pairs")
s.mid("remote", "min(min(8, 12), 12 - 1)", "domains")
s.mid("out_copies", "0.9*90*1*remote*(1 + 8 - 1)/8", "token copies")
s.let("scaleout_dispatch_s", "out_copies*4096*1/50e9", "s")
s.let("scaleout_combine_s", "out_copies*4096*2/50e9", "s")
s.let("scaleout_s", "scaleout_dispatch_s + scaleout_combine_s", "s")
s.let("scaleup_dispatch_s", "pairs_hot*4096*1/160e9", "s")
s.let("scaleup_combine_s", "pairs_hot*4096*2/160e9", "s")
s.let("scaleup_s", "scaleup_dispatch_s + scaleup_combine_s", "s")
s.let("gemm_compute_s", "6*pairs_hot*4096*1536/1979e12", "s")
s.let("gemm_weight_s", "2*qw_expert/3.35e12", "s")
s.let("gemm_latency_s", "0/1e6", "s", "paper profile: no fixed times")
s.let("gemm_s", "gemm_latency_s + max(gemm_compute_s, gemm_weight_s)", "s")
s.let("attention_weight_bytes", "94*qw_proj*1 + 2*151936*4096*2", "bytes")
s.let("expert_weight_bytes", "94*2*qw_expert", "bytes")
s.let("kv_bytes", "180*qw_kv_layer*94", "bytes")
s.let("buffer_bytes", "0.9*180*1*8*1*4096*3", "bytes")
s.let(
    "gpu_bytes", "attention_weight_bytes + expert_weight_bytes + kv_bytes + buffer_bytes", "bytes"
)
s.let("usable_bytes", "80e9*0.9", "bytes")
s.let("serial_s", "attention_s + gemm_s", "s", "two micro-batches: the all-to-all overlaps")
s.let("stage_s", "max(serial_s, scaleout_s, scaleup_s)", "s")
s.let("gpus", "12*8", "GPUs")
own_pace(s, 94, 2, 10, 1, "0.9*96*180")
s.mid("useful_flop", "6*pairs_mean*4096*1536", "FLOP")
s.let("ffn_hfu", "useful_flop/(stage_s*1979e12)", "1")
s.let("ffn_ofu", "useful_flop/(gemm_s*1979e12)", "1")
s.let("temporal_sparsity", "gemm_s/stage_s", "1")

# ---- case 11: Qwen3-235B, H200 sustained, AFD, GPU-granular units (g 1), eps 1.3 -----------
s = case("qw-h200-sustained-afd-g1", "qwen3-235b-a22b", "h200", "sustained", "afd",
         "N_A=20;N_F=5;n=150;N_BO=3;R=0;g=1;eps=1.3", WL_OTHER)  # fmt: skip
s.let("budget_s", "(50/1000*1 - 10/1000)/(94*3)", "s")
s.let("micro_batch_size", "ceil(150/3)", "sequences")
s.let(
    "attention_flop_s",
    "50*1*qw_core*4096/(989e12*0.67) + 50*1*2*qw_proj/(1979e12*0.67)",
    "s",
)
s.let("attention_byte_s", "(qw_proj*1 + 50*qw_kv_layer)/(4.8e12*0.9)", "s")
s.let("attention_latency_s", "13/1e6", "s", "[latency] of the hardware file")
s.let("attention_s", "attention_latency_s + max(attention_flop_s, attention_byte_s)", "s")
s.let("experts_per_gpu", "ceil((128+0)/(5*1))", "experts")
s.mid("X", "1*20*1*50*1", "tokens")
s.let("pairs_mean", "X*8/(5*1)", "pairs")
s.let("pairs_hot", "pairs_mean*1.3", "pairs")
s.mid("D", "min(8, ceil(5/8))", "domains", "5 FFN GPUs sit in one eight-GPU domain")
s.mid(
    "out_copies",
    "X*D/5*(1.3 + 5 - 1)/5",
    "token copies",
    "node load over the pool's 5 NICs in that domain",
)
s.let("ffn_scaleout_dispatch_s", "42/1e6 + out_copies*4096*1/(50e9*0.8)", "s")
s.let("ffn_scaleout_combine_s", "76/1e6 + out_copies*4096*2/(50e9*0.8)", "s")
s.let("ffn_scaleout_s", "ffn_scaleout_dispatch_s + ffn_scaleout_combine_s", "s")
s.let("ffn_scaleup_dispatch_s", "14/1e6 + pairs_hot*4096*1/(450e9*0.75)", "s")
s.let("ffn_scaleup_combine_s", "9/1e6 + pairs_hot*4096*2/(450e9*0.75)", "s")
s.let("ffn_scaleup_s", "ffn_scaleup_dispatch_s + ffn_scaleup_combine_s", "s")
s.let("gemm_compute_s", "6*pairs_hot*4096*1536/(1979e12*0.56)", "s")
s.let("gemm_weight_s", "26*qw_expert/(4.8e12*0.9)", "s")
s.let("gemm_latency_s", "5/1e6", "s", "[latency] of the hardware file")
s.let("gemm_s", "gemm_latency_s + max(gemm_compute_s, gemm_weight_s)", "s")
s.let("attention_dispatch_s", "42/1e6 + 50*1*D*4096*1/(50e9*0.8)", "s")
s.let("attention_combine_s", "76/1e6 + 50*1*D*4096*2/(50e9*0.8)", "s")
s.let("attention_wire_s", "attention_dispatch_s + attention_combine_s", "s")
s.let("attention_weight_bytes", "94*qw_proj*1 + 2*151936*4096*2", "bytes")
s.let("attention_kv_bytes", "150*qw_kv_layer*94", "bytes")
s.let("attention_buffer_bytes", "150*1*D*4096*3", "bytes")
s.let(
    "attention_bytes",
    "attention_weight_bytes + attention_kv_bytes + attention_buffer_bytes",
    "bytes",
)
s.let("ffn_weight_bytes", "94*26*qw_expert", "bytes")
s.let("ffn_buffer_bytes", "1*20*1*150*1*8/5*1.3*4096*3", "bytes")
s.let("ffn_bytes", "ffn_weight_bytes + ffn_buffer_bytes", "bytes")
s.let("usable_bytes", "141e9*0.9", "bytes")
s.let("ffn_usable_bytes", "141e9*0.9", "bytes", "FFN GPUs: the same hardware")
s.let("stage_s", "max(attention_s, attention_wire_s, gemm_s, ffn_scaleout_s, ffn_scaleup_s)", "s")
s.let("gpus", "(20+5)*1", "GPUs")
own_pace(s, 94, 3, 10, 1, "1*20*150")
s.mid("useful_flop", "6*pairs_mean*4096*1536", "FLOP")
s.let("ffn_hfu", "useful_flop/(stage_s*1979e12)", "1")
s.let("ffn_ofu", "useful_flop/(gemm_s*1979e12)", "1")
s.let("temporal_sparsity", "gemm_s/stage_s", "1")

# ---- case 12: Qwen3-235B, H200 sustained, EP, g 1, eps 1.3 -----------------------------------
s = case("qw-h200-sustained-ep-g1", "qwen3-235b-a22b", "h200", "sustained", "ep",
         "N=20;n=64;N_BO=2;R=0;g=1;eps=1.3", WL_OTHER)  # fmt: skip
s.let("budget_s", "(50/1000*1 - 10/1000)/(94*2)", "s")
s.let("micro_batch_size", "ceil(64/2)", "sequences")
s.let(
    "attention_flop_s",
    "32*1*qw_core*4096/(989e12*0.67) + 32*1*2*qw_proj/(1979e12*0.67)",
    "s",
)
s.let("attention_byte_s", "(qw_proj*1 + 32*qw_kv_layer)/(4.8e12*0.9)", "s")
s.let("attention_latency_s", "13/1e6", "s", "[latency] of the hardware file")
s.let("attention_s", "attention_latency_s + max(attention_flop_s, attention_byte_s)", "s")
s.let("experts_per_gpu", "ceil((128+0)/(20*1))", "experts")
s.let("pairs_mean", "1*32*1*8", "pairs")
s.let("pairs_hot", "pairs_mean*1.3", "pairs")
s.mid("remote", "min(min(8, ceil(20/8)), ceil(20/8) - 1)", "domains", "20 GPUs span 3 domains")
s.mid("out_copies", "1*32*1*remote*(1.3 + 8 - 1)/8", "token copies")
s.let("scaleout_dispatch_s", "42/1e6 + out_copies*4096*1/(50e9*0.8)", "s")
s.let("scaleout_combine_s", "76/1e6 + out_copies*4096*2/(50e9*0.8)", "s")
s.let("scaleout_s", "scaleout_dispatch_s + scaleout_combine_s", "s")
s.let("scaleup_dispatch_s", "14/1e6 + pairs_hot*4096*1/(450e9*0.75)", "s")
s.let("scaleup_combine_s", "9/1e6 + pairs_hot*4096*2/(450e9*0.75)", "s")
s.let("scaleup_s", "scaleup_dispatch_s + scaleup_combine_s", "s")
s.let("gemm_compute_s", "6*pairs_hot*4096*1536/(1979e12*0.56)", "s")
s.let("gemm_weight_s", "7*qw_expert/(4.8e12*0.9)", "s")
s.let("gemm_latency_s", "5/1e6", "s", "[latency] of the hardware file")
s.let("gemm_s", "gemm_latency_s + max(gemm_compute_s, gemm_weight_s)", "s")
s.let("attention_weight_bytes", "94*qw_proj*1 + 2*151936*4096*2", "bytes")
s.let("expert_weight_bytes", "94*7*qw_expert", "bytes")
s.let("kv_bytes", "64*qw_kv_layer*94", "bytes")
s.let("buffer_bytes", "1*64*1*8*1.3*4096*3", "bytes")
s.let(
    "gpu_bytes", "attention_weight_bytes + expert_weight_bytes + kv_bytes + buffer_bytes", "bytes"
)
s.let("usable_bytes", "141e9*0.9", "bytes")
s.let("serial_s", "attention_s + gemm_s", "s", "two micro-batches: the all-to-all overlaps")
s.let("stage_s", "max(serial_s, scaleout_s, scaleup_s)", "s")
s.let("gpus", "20*1", "GPUs")
own_pace(s, 94, 2, 10, 1, "1*20*64")
s.mid("useful_flop", "6*pairs_mean*4096*1536", "FLOP")
s.let("ffn_hfu", "useful_flop/(stage_s*1979e12)", "1")
s.let("ffn_ofu", "useful_flop/(gemm_s*1979e12)", "1")
s.let("temporal_sparsity", "gemm_s/stage_s", "1")

# ---- case 13: DeepSeek-V3, GB200 NVL72 paper, AFD inside the (unbounded) scale-up domain ----
# gb200 paper: fp8 4500 ([paper]), bf16 2500, 180 GB, 7.7 TB/s, scale-up 720, scale-out 50,
# efficiency 1, superpod with an unbounded domain: everything on scale-up.
s = case("ds-gb200-paper-afd", "deepseek-v3", "gb200-nvl72", "paper", "afd",
         "N_A=6;N_F=3;n=300;N_BO=3;R=0;g=8;eps=1", WL_DS)  # fmt: skip
s.let("budget_s", "(50/1000*1.7 - 15/1000)/(61*3)", "s")
s.let("micro_batch_size", "ceil(300/3)", "sequences")
s.let("attention_flop_s", "100*1*ds_core*4096/2500e12 + 100*1*2*ds_stage_att/4500e12", "s")
s.let("attention_byte_s", "(ds_stage_att*1 + 100*ds_kv_layer)/7.7e12", "s")
s.let("attention_latency_s", "0/1e6", "s", "paper profile: no fixed times")
s.let("attention_s", "attention_latency_s + max(attention_flop_s, attention_byte_s)", "s")
s.let("experts_per_gpu", "ceil((256+0)/(3*8))", "experts")
s.mid("X", "1*6*8*100*1", "tokens")
s.let("pairs_mean", "X*8/(3*8)", "pairs")
s.let("pairs_hot", "pairs_mean*1", "pairs")
s.let("ffn_scaleout_dispatch_s", "0", "s", "inside the scale-up domain: no scale-out stage")
s.let("ffn_scaleout_combine_s", "0", "s")
s.let("ffn_scaleout_s", "0", "s")
s.let("ffn_scaleup_dispatch_s", "pairs_hot*7168*1/720e9", "s")
s.let("ffn_scaleup_combine_s", "pairs_hot*7168*2/720e9", "s")
s.let("ffn_scaleup_s", "ffn_scaleup_dispatch_s + ffn_scaleup_combine_s", "s")
s.let("gemm_compute_s", "6*pairs_hot*7168*2048/4500e12", "s")
s.let("gemm_weight_s", "11*ds_expert/7.7e12", "s")
s.let("gemm_latency_s", "0/1e6", "s", "paper profile: no fixed times")
s.let("gemm_s", "gemm_latency_s + max(gemm_compute_s, gemm_weight_s)", "s")
s.mid("copies", "min(8, 3*8)", "copies", "direct to each expert GPU: K of 24 FFN GPUs")
s.let("attention_dispatch_s", "100*1*copies*7168*1/720e9", "s")
s.let("attention_combine_s", "100*1*copies*7168*2/720e9", "s")
s.let("attention_wire_s", "attention_dispatch_s + attention_combine_s", "s")
s.let("attention_weight_bytes", "61*ds_proj*1 + ds_side_att*1 + 2*129280*7168*2", "bytes")
s.let("attention_kv_bytes", "300*ds_kv_layer*61", "bytes")
s.let("attention_buffer_bytes", "300*1*copies*7168*3", "bytes")
s.let(
    "attention_bytes",
    "attention_weight_bytes + attention_kv_bytes + attention_buffer_bytes",
    "bytes",
)
s.let("ffn_weight_bytes", "58*11*ds_expert", "bytes")
s.let("ffn_buffer_bytes", "1*6*8*300*1*8/24*1*7168*3", "bytes")
s.let("ffn_bytes", "ffn_weight_bytes + ffn_buffer_bytes", "bytes")
s.let("usable_bytes", "180e9*0.9", "bytes")
s.let("ffn_usable_bytes", "180e9*0.9", "bytes", "FFN GPUs: the same hardware")
s.let("stage_s", "max(attention_s, attention_wire_s, gemm_s, ffn_scaleout_s, ffn_scaleup_s)", "s")
s.let("gpus", "(6+3)*8", "GPUs")
own_pace(s, 61, 3, 15, 1.7, "1*48*300")
s.mid("useful_flop", "6*pairs_mean*7168*2048", "FLOP")
s.let("ffn_hfu", "useful_flop/(stage_s*4500e12)", "1")
s.let("ffn_ofu", "useful_flop/(gemm_s*4500e12)", "1")
s.let("temporal_sparsity", "gemm_s/stage_s", "1")

# ---- case 14: DeepSeek-V3, GB200 NVL72 sustained, EP of 96 GPUs (outside one 72-GPU domain) -
# gb200 sustained: fp8 5000*0.56, attention 0.67 of bf16 2500 / fp8 5000, 8.0*0.9 TB/s,
# scale-up 900*0.82, scale-out 50*0.8 GB/s, 186 GB * 0.9; domain 72 GPUs, bounded.
s = case("ds-gb200-sustained-ep", "deepseek-v3", "gb200-nvl72", "sustained", "ep",
         "N=12;n=200;N_BO=2;R=0;g=8;eps=1.2", WL_DS)  # fmt: skip
s.let("budget_s", "(50/1000*1.7 - 15/1000)/(61*2)", "s")
s.let("micro_batch_size", "ceil(200/2)", "sequences")
s.let(
    "attention_flop_s",
    "100*1*ds_core*4096/(2500e12*0.67) + 100*1*2*ds_stage_att/(5000e12*0.67)",
    "s",
)
s.let("attention_byte_s", "(ds_stage_att*1 + 100*ds_kv_layer)/(8.0e12*0.9)", "s")
s.let("attention_latency_s", "13/1e6", "s", "gb200 [latency] (Hopper values)")
s.let("attention_s", "attention_latency_s + max(attention_flop_s, attention_byte_s)", "s")
s.let("experts_per_gpu", "ceil((256+0)/(12*8))", "experts")
s.let("pairs_mean", "1*100*1*8", "pairs")
s.let("pairs_hot", "pairs_mean*1.2", "pairs")
s.mid(
    "remote",
    "min(min(8, ceil(96/72)), ceil(96/72) - 1)",
    "domains",
    "96 GPUs > 72: two domains, one remote",
)
s.mid("out_copies", "1*100*1*remote*(1.2 + 72 - 1)/72", "token copies", "72-GPU domain load")
s.let("scaleout_dispatch_s", "42/1e6 + out_copies*7168*1/(50e9*0.8)", "s")
s.let("scaleout_combine_s", "76/1e6 + out_copies*7168*2/(50e9*0.8)", "s")
s.let("scaleout_s", "scaleout_dispatch_s + scaleout_combine_s", "s")
s.let("scaleup_dispatch_s", "14/1e6 + pairs_hot*7168*1/(900e9*0.82)", "s")
s.let("scaleup_combine_s", "9/1e6 + pairs_hot*7168*2/(900e9*0.82)", "s")
s.let("scaleup_s", "scaleup_dispatch_s + scaleup_combine_s", "s")
s.let("gemm_compute_s", "6*pairs_hot*7168*2048/(5000e12*0.56)", "s")
s.let("gemm_weight_s", "3*ds_expert/(8.0e12*0.9)", "s")
s.let("gemm_latency_s", "5/1e6", "s", "gb200 [latency] (Hopper values)")
s.let("gemm_s", "gemm_latency_s + max(gemm_compute_s, gemm_weight_s)", "s")
s.let("attention_weight_bytes", "61*ds_proj*1 + ds_side_att*1 + 2*129280*7168*2", "bytes")
s.let("expert_weight_bytes", "58*3*ds_expert", "bytes")
s.let("kv_bytes", "200*ds_kv_layer*61", "bytes")
s.let("buffer_bytes", "1*200*1*8*1.2*7168*3", "bytes")
s.let(
    "gpu_bytes", "attention_weight_bytes + expert_weight_bytes + kv_bytes + buffer_bytes", "bytes"
)
s.let("usable_bytes", "186e9*0.9", "bytes")
s.let("serial_s", "attention_s + gemm_s", "s", "two micro-batches: the all-to-all overlaps")
s.let("stage_s", "max(serial_s, scaleout_s, scaleup_s)", "s")
s.let("gpus", "12*8", "GPUs")
own_pace(s, 61, 2, 15, 1.7, "1*96*200")
s.mid("useful_flop", "6*pairs_mean*7168*2048", "FLOP")
s.let("ffn_hfu", "useful_flop/(stage_s*5000e12)", "1")
s.let("ffn_ofu", "useful_flop/(gemm_s*5000e12)", "1")
s.let("temporal_sparsity", "gemm_s/stage_s", "1")

# ---- case 15: Qwen3-235B, H200 sustained + a calibrated grouped-GEMM curve, AFD -------------
# Curve (tokens per expert: TFLOP/s) 64: 400, 256: 900, 1024: 1100 (an override, not shipped).
s = case("qw-h200-sustained-afd-cal", "qwen3-235b-a22b", "h200", "sustained", "afd",
         "N_A=4;N_F=2;n=300;N_BO=3;R=0;g=8;eps=1", WL_OTHER,
         "gemm_calibration=64:400,256:900,1024:1100")  # fmt: skip
s.let("budget_s", "(50/1000*1 - 10/1000)/(94*3)", "s")
s.let("micro_batch_size", "ceil(300/3)", "sequences")
s.let(
    "attention_flop_s",
    "100*1*qw_core*4096/(989e12*0.67) + 100*1*2*qw_proj/(1979e12*0.67)",
    "s",
)
s.let("attention_byte_s", "(qw_proj*1 + 100*qw_kv_layer)/(4.8e12*0.9)", "s")
s.let("attention_latency_s", "13/1e6", "s", "[latency] of the hardware file")
s.let("attention_s", "attention_latency_s + max(attention_flop_s, attention_byte_s)", "s")
s.let("experts_per_gpu", "ceil((128+0)/(2*8))", "experts")
s.mid("X", "1*4*8*100*1", "tokens")
s.let("pairs_mean", "X*8/(2*8)", "pairs")
s.let("pairs_hot", "pairs_mean*1", "pairs")
s.mid("D", "min(8, ceil(16/8))", "domains")
s.mid("out_copies", "X*D/16*(1 + 8 - 1)/8", "token copies")
s.let("ffn_scaleout_dispatch_s", "42/1e6 + out_copies*4096*1/(50e9*0.8)", "s")
s.let("ffn_scaleout_combine_s", "76/1e6 + out_copies*4096*2/(50e9*0.8)", "s")
s.let("ffn_scaleout_s", "ffn_scaleout_dispatch_s + ffn_scaleout_combine_s", "s")
s.let("ffn_scaleup_dispatch_s", "14/1e6 + pairs_hot*4096*1/(450e9*0.75)", "s")
s.let("ffn_scaleup_combine_s", "9/1e6 + pairs_hot*4096*2/(450e9*0.75)", "s")
s.let("ffn_scaleup_s", "ffn_scaleup_dispatch_s + ffn_scaleup_combine_s", "s")
s.mid("tpe", "pairs_hot/8", "tokens/expert", "between the 64 and 256 points")
s.mid("rate", "(400 + (900 - 400)*(tpe - 64)/(256 - 64))*1e12", "FLOP/s", "linear interpolation")
s.let("gemm_compute_s", "6*pairs_hot*4096*1536/rate", "s")
s.let("gemm_weight_s", "8*qw_expert/(4.8e12*0.9)", "s")
s.let("gemm_latency_s", "5/1e6", "s", "[latency] of the hardware file")
s.let("gemm_s", "gemm_latency_s + max(gemm_compute_s, gemm_weight_s)", "s")
s.let("attention_dispatch_s", "42/1e6 + 100*1*D*4096*1/(50e9*0.8)", "s")
s.let("attention_combine_s", "76/1e6 + 100*1*D*4096*2/(50e9*0.8)", "s")
s.let("attention_wire_s", "attention_dispatch_s + attention_combine_s", "s")
s.let("attention_weight_bytes", "94*qw_proj*1 + 2*151936*4096*2", "bytes")
s.let("attention_kv_bytes", "300*qw_kv_layer*94", "bytes")
s.let("attention_buffer_bytes", "300*1*D*4096*3", "bytes")
s.let(
    "attention_bytes",
    "attention_weight_bytes + attention_kv_bytes + attention_buffer_bytes",
    "bytes",
)
s.let("ffn_weight_bytes", "94*8*qw_expert", "bytes")
s.let("ffn_buffer_bytes", "1*4*8*300*1*8/16*1*4096*3", "bytes")
s.let("ffn_bytes", "ffn_weight_bytes + ffn_buffer_bytes", "bytes")
s.let("usable_bytes", "141e9*0.9", "bytes")
s.let("ffn_usable_bytes", "141e9*0.9", "bytes", "FFN GPUs: the same hardware")
s.let("stage_s", "max(attention_s, attention_wire_s, gemm_s, ffn_scaleout_s, ffn_scaleup_s)", "s")
s.let("gpus", "(4+2)*8", "GPUs")
own_pace(s, 94, 3, 10, 1, "1*32*300")
s.mid("useful_flop", "6*pairs_mean*4096*1536", "FLOP")
s.let("ffn_hfu", "useful_flop/(stage_s*1979e12)", "1", "peak FP8, not the curve")
s.let("ffn_ofu", "useful_flop/(gemm_s*1979e12)", "1")
s.let("temporal_sparsity", "gemm_s/stage_s", "1")


# ---- case 16: Qwen3-235B, attention on H20, FFN on H800 (both sustained), 32k context ------
# Heterogeneous pools (docs/model.md §17): the attention GPU computes and stores on H20, the
# FFN GPU on H800; the link is the slower of the two sustained scale-outs (both 50 * 0.8).
# h20 sustained: fp8 296, bf16 148, attention 0.87, HBM 4.0*0.90 TB/s, 96 GB * 0.9.
# h800 sustained: fp8 1979*0.56, HBM 3.35*0.90 TB/s, scale-up 200*0.78, 80 GB * 0.9.
WL_QW_LONG = WL_OTHER.replace("context_tokens=4096", "context_tokens=32768")
s = case("qw-h20-h800-sustained-afd", "qwen3-235b-a22b", "h20", "sustained", "afd",
         "N_A=4;N_F=2;n=21;N_BO=3;R=0;g=8;eps=1", WL_QW_LONG, "",
         ("h800", "sustained"))  # fmt: skip
s.mid("kv_layer", "1024*1*32768", "bytes", "per sequence and layer at context 32768")
s.mid("link", "min(50e9*0.80, 50e9*0.80)", "bytes/s", "slower sustained scale-out of h20, h800")
s.let("budget_s", "(50/1000*1 - 10/1000)/(94*3)", "s")
s.let("micro_batch_size", "ceil(21/3)", "sequences")
s.let(
    "attention_flop_s",
    "7*1*qw_core*32768/(148e12*0.87) + 7*1*2*qw_proj/(296e12*0.87)",
    "s",
    "h20 rates",
)
s.let("attention_byte_s", "(qw_proj*1 + 7*kv_layer)/(4.0e12*0.90)", "s", "h20 HBM")
s.let("attention_latency_s", "13/1e6", "s", "h20 attention, h800 FFN, link max of both scale-outs")
s.let("attention_s", "attention_latency_s + max(attention_flop_s, attention_byte_s)", "s")
s.let("experts_per_gpu", "ceil((128+0)/(2*8))", "experts")
s.mid("X", "1*4*8*7*1", "tokens")
s.let("pairs_mean", "X*8/(2*8)", "pairs")
s.let("pairs_hot", "pairs_mean*1", "pairs")
s.mid("D", "min(8, ceil(16/8))", "domains", "FFN pool: 16 h800 GPUs in 8-GPU domains")
s.mid("out_copies", "X*D/16*(1 + 8 - 1)/8", "token copies")
s.let("ffn_scaleout_dispatch_s", "42/1e6 + out_copies*4096*1/link", "s")
s.let("ffn_scaleout_combine_s", "76/1e6 + out_copies*4096*2/link", "s")
s.let("ffn_scaleout_s", "ffn_scaleout_dispatch_s + ffn_scaleout_combine_s", "s")
s.let("ffn_scaleup_dispatch_s", "14/1e6 + pairs_hot*4096*1/(200e9*0.78)", "s", "h800 NVLink")
s.let("ffn_scaleup_combine_s", "9/1e6 + pairs_hot*4096*2/(200e9*0.78)", "s")
s.let("ffn_scaleup_s", "ffn_scaleup_dispatch_s + ffn_scaleup_combine_s", "s")
s.let("gemm_compute_s", "6*pairs_hot*4096*1536/(1979e12*0.56)", "s", "h800 grouped GEMM")
s.let("gemm_weight_s", "8*qw_expert/(3.35e12*0.90)", "s", "h800 HBM")
s.let("gemm_latency_s", "5/1e6", "s", "h20 attention, h800 FFN, link max of both scale-outs")
s.let("gemm_s", "gemm_latency_s + max(gemm_compute_s, gemm_weight_s)", "s")
s.let("attention_dispatch_s", "42/1e6 + 7*1*D*4096*1/link", "s")
s.let("attention_combine_s", "76/1e6 + 7*1*D*4096*2/link", "s")
s.let("attention_wire_s", "attention_dispatch_s + attention_combine_s", "s")
s.let("attention_weight_bytes", "94*qw_proj*1 + 2*151936*4096*2", "bytes")
s.let("attention_kv_bytes", "21*kv_layer*94", "bytes")
s.let("attention_buffer_bytes", "21*1*D*4096*3", "bytes")
s.let(
    "attention_bytes",
    "attention_weight_bytes + attention_kv_bytes + attention_buffer_bytes",
    "bytes",
)
s.let("ffn_weight_bytes", "94*8*qw_expert", "bytes")
s.let("ffn_buffer_bytes", "1*4*8*21*1*8/16*1*4096*3", "bytes")
s.let("ffn_bytes", "ffn_weight_bytes + ffn_buffer_bytes", "bytes")
s.let("usable_bytes", "96e9*0.9", "bytes", "h20: the attention GPU")
s.let("ffn_usable_bytes", "80e9*0.9", "bytes", "h800: the FFN GPU")
s.let("stage_s", "max(attention_s, attention_wire_s, gemm_s, ffn_scaleout_s, ffn_scaleup_s)", "s")
s.let("gpus", "(4+2)*8", "GPUs")
own_pace(s, 94, 3, 10, 1, "1*32*21")
s.mid("useful_flop", "6*pairs_mean*4096*1536", "FLOP")
s.let("ffn_hfu", "useful_flop/(stage_s*1979e12)", "1", "the FFN hardware's FP8 peak")
s.let("ffn_ofu", "useful_flop/(gemm_s*1979e12)", "1")
s.let("temporal_sparsity", "gemm_s/stage_s", "1")

# ---- case 17: DeepSeek-V3, attention on H200 (paper), FFN on GB200 NVL72 (sustained) --------
# A given link of 100 GB/s, node-limited routing, shared experts on the FFN side, R = 16,
# eps 1.2. Pools of different hardware never share the NVL72 domain: the two-stage path
# crosses the link once per FFN rack (72 GPUs), then fans out on NVLink 5.
# h200 paper: fp8 1979, bf16 989, HBM 4.0 TB/s ([paper]), 141 GB, efficiency 1.
# gb200 sustained: fp8 5000*0.56, HBM 8.0*0.90 TB/s, scale-up 900*0.82, 186 GB * 0.9.
WL_DS_MIX = WL_DS_NL.replace("shared_experts=attention", "shared_experts=ffn")
s = case("ds-h200-gb200-link-afd", "deepseek-v3", "h200", "paper", "afd",
         "N_A=3;N_F=10;n=120;N_BO=4;R=16;g=8;eps=1.2", WL_DS_MIX, "",
         ("gb200-nvl72", "sustained"), "100")  # fmt: skip
s.let("budget_s", "(50/1000*1.7 - 15/1000)/(61*4)", "s")
s.let("micro_batch_size", "ceil(120/4)", "sequences")
s.let("attention_flop_s", "30*1*ds_core*4096/989e12 + 30*1*2*ds_stage_ffn/1979e12", "s")
s.let("attention_byte_s", "(ds_stage_ffn*1 + 30*ds_kv_layer)/4.0e12", "s")
s.let(
    "attention_latency_s",
    "0/1e6",
    "s",
    "h200 paper: none; gb200 [latency] on the FFN side and the link",
)
s.let("attention_s", "attention_latency_s + max(attention_flop_s, attention_byte_s)", "s")
s.let("experts_per_gpu", "ceil((256+16)/(10*8))", "experts")
s.mid("X", "1*3*8*30*1", "tokens")
s.let("pairs_mean", "X*8/(10*8)", "pairs")
s.let("pairs_hot", "pairs_mean*1.2", "pairs")
s.mid(
    "D",
    "min(8, ceil(80/72), 4*1)",
    "domains",
    "80 GPUs span 2 racks; each of the 8 groups sits in one rack, topk_group 4",
)
s.mid("node_load", "(1.2 + 72 - 1)/72", "1", "72 pool GPUs in the hottest rack")
s.mid("out_copies", "X*D/80*node_load", "token copies")
s.let("ffn_scaleout_dispatch_s", "42/1e6 + out_copies*7168*1/100e9", "s", "the given link")
s.let("ffn_scaleout_combine_s", "76/1e6 + out_copies*7168*2/100e9", "s")
s.let("ffn_scaleout_s", "ffn_scaleout_dispatch_s + ffn_scaleout_combine_s", "s")
s.let("ffn_scaleup_dispatch_s", "14/1e6 + pairs_hot*7168*1/(900e9*0.82)", "s", "gb200 NVLink 5")
s.let("ffn_scaleup_combine_s", "9/1e6 + pairs_hot*7168*2/(900e9*0.82)", "s")
s.let("ffn_scaleup_s", "ffn_scaleup_dispatch_s + ffn_scaleup_combine_s", "s")
s.let(
    "gemm_compute_s",
    "6*pairs_hot*7168*2048/(5000e12*0.56) + X/80*2*ds_shared/(5000e12*0.56)",
    "s",
    "routed pairs + an even share of the shared expert, gb200 rate",
)
s.let("gemm_weight_s", "(4*ds_expert + ds_shared*1)/(8.0e12*0.90)", "s")
s.let(
    "gemm_latency_s", "5/1e6", "s", "h200 paper: none; gb200 [latency] on the FFN side and the link"
)
s.let("gemm_s", "gemm_latency_s + max(gemm_compute_s, gemm_weight_s)", "s")
s.let("attention_dispatch_s", "42/1e6 + 30*1*D*7168*1/100e9", "s")
s.let("attention_combine_s", "76/1e6 + 30*1*D*7168*2/100e9", "s")
s.let("attention_wire_s", "attention_dispatch_s + attention_combine_s", "s")
s.let("attention_weight_bytes", "61*ds_proj*1 + ds_side_ffn*1 + 2*129280*7168*2", "bytes")
s.let("attention_kv_bytes", "120*ds_kv_layer*61", "bytes")
s.let("attention_buffer_bytes", "120*1*D*7168*3", "bytes")
s.let(
    "attention_bytes",
    "attention_weight_bytes + attention_kv_bytes + attention_buffer_bytes",
    "bytes",
)
s.let("ffn_weight_bytes", "58*(4*ds_expert + ds_shared*1)", "bytes")
s.let("ffn_buffer_bytes", "1*3*8*120*1*8/80*1.2*7168*3", "bytes")
s.let("ffn_bytes", "ffn_weight_bytes + ffn_buffer_bytes", "bytes")
s.let("usable_bytes", "141e9*0.9", "bytes", "h200: the attention GPU")
s.let("ffn_usable_bytes", "186e9*0.9", "bytes", "gb200: the FFN GPU")
s.let("stage_s", "max(attention_s, attention_wire_s, gemm_s, ffn_scaleout_s, ffn_scaleup_s)", "s")
s.let("gpus", "(3+10)*8", "GPUs")
own_pace(s, 61, 4, 15, 1.7, "1*24*120")
s.mid("useful_flop", "6*pairs_mean*7168*2048", "FLOP")
s.let("ffn_hfu", "useful_flop/(stage_s*5000e12)", "1", "gb200 FP8 peak")
s.let("ffn_ofu", "useful_flop/(gemm_s*5000e12)", "1")
s.let("temporal_sparsity", "gemm_s/stage_s", "1")


# ---- case 18: Step-3, H200 sustained, AFD, distinct fixed times per stage ------------------
# hardware_overrides give each [latency] key its own value (us), so a key routed to the wrong
# stage shows: attention 3, grouped GEMM 7, scale-up dispatch 11 / combine 13, scale-out
# dispatch 17 / combine 19. A small batch (n = 6, b = 2) lets the fixed times set the pace.
LAT = (
    "attention_latency_us=3;grouped_gemm_latency_us=7;dispatch_scale_up_latency_us=11;"
    "combine_scale_up_latency_us=13;dispatch_scale_out_latency_us=17;"
    "combine_scale_out_latency_us=19"
)
s = case("st-h200-latency-afd", "step3", "h200", "sustained", "afd",
         "N_A=2;N_F=2;n=6;N_BO=3;R=0;g=8;eps=1", WL_OTHER, LAT)  # fmt: skip
s.let("budget_s", "(50/1000*1 - 10/1000)/(61*3)", "s")
s.let("micro_batch_size", "ceil(6/3)", "sequences")
s.let(
    "attention_flop_s",
    "2*1*st_core*4096/(989e12*0.67) + 2*1*2*st_stage_att/(1979e12*0.67)",
    "s",
)
s.let("attention_byte_s", "(st_stage_att*1 + 2*st_kv_layer)/(4.8e12*0.9)", "s")
s.let("attention_latency_s", "3/1e6", "s", "the attention key")
s.let("attention_s", "attention_latency_s + max(attention_flop_s, attention_byte_s)", "s")
s.let("experts_per_gpu", "ceil((48+0)/(2*8))", "experts")
s.mid("X", "1*2*8*2*1", "tokens")
s.let("pairs_mean", "X*3/(2*8)", "pairs")
s.let("pairs_hot", "pairs_mean*1", "pairs")
s.mid("D", "min(3, ceil(16/8))", "domains")
s.mid("out_copies", "X*D/16*(1 + 8 - 1)/8", "token copies")
s.let("ffn_scaleout_dispatch_s", "17/1e6 + out_copies*7168*1/(50e9*0.8)", "s", "h200 both sides")
s.let("ffn_scaleout_combine_s", "19/1e6 + out_copies*7168*2/(50e9*0.8)", "s")
s.let("ffn_scaleout_s", "ffn_scaleout_dispatch_s + ffn_scaleout_combine_s", "s")
s.let("ffn_scaleup_dispatch_s", "11/1e6 + pairs_hot*7168*1/(450e9*0.75)", "s")
s.let("ffn_scaleup_combine_s", "13/1e6 + pairs_hot*7168*2/(450e9*0.75)", "s")
s.let("ffn_scaleup_s", "ffn_scaleup_dispatch_s + ffn_scaleup_combine_s", "s")
s.let("gemm_compute_s", "6*pairs_hot*7168*5120/(1979e12*0.56)", "s")
s.let("gemm_weight_s", "3*st_expert/(4.8e12*0.9)", "s")
s.let("gemm_latency_s", "7/1e6", "s", "the grouped_gemm key")
s.let("gemm_s", "gemm_latency_s + max(gemm_compute_s, gemm_weight_s)", "s")
s.let("attention_dispatch_s", "17/1e6 + 2*1*D*7168*1/(50e9*0.8)", "s", "scale-out: the link")
s.let("attention_combine_s", "19/1e6 + 2*1*D*7168*2/(50e9*0.8)", "s")
s.let("attention_wire_s", "attention_dispatch_s + attention_combine_s", "s")
s.let("attention_weight_bytes", "61*st_proj*1 + st_side_att*1 + 2*128815*7168*2", "bytes")
s.let("attention_kv_bytes", "6*st_kv_layer*61", "bytes")
s.let("attention_buffer_bytes", "6*1*D*7168*3", "bytes")
s.let(
    "attention_bytes",
    "attention_weight_bytes + attention_kv_bytes + attention_buffer_bytes",
    "bytes",
)
s.let("ffn_weight_bytes", "56*3*st_expert", "bytes")
s.let("ffn_buffer_bytes", "1*2*8*6*1*3/16*1*7168*3", "bytes")
s.let("ffn_bytes", "ffn_weight_bytes + ffn_buffer_bytes", "bytes")
s.let("usable_bytes", "141e9*0.9", "bytes")
s.let("ffn_usable_bytes", "141e9*0.9", "bytes", "FFN GPUs: the same hardware")
s.let("stage_s", "max(attention_s, attention_wire_s, gemm_s, ffn_scaleout_s, ffn_scaleup_s)", "s")
s.let("gpus", "(2+2)*8", "GPUs")
own_pace(s, 61, 3, 10, 1, "1*16*6")
s.mid("useful_flop", "6*pairs_mean*7168*5120", "FLOP")
s.let("ffn_hfu", "useful_flop/(stage_s*1979e12)", "1")
s.let("ffn_ofu", "useful_flop/(gemm_s*1979e12)", "1")
s.let("temporal_sparsity", "gemm_s/stage_s", "1")

# ---- case 19: Step-3, H200 sustained, EP on one node: no scale-out stage, no scale-out time --
# N = 1: 8 GPUs in one domain, remote = min(D, 1 - 1) = 0, so the all-to-all never crosses a NIC
# and the scale-out fixed times (17, 19 us) do not count; scale-up carries 11 + 13 us.
s = case("st-h200-latency-ep-one-node", "step3", "h200", "sustained", "ep",
         "N=1;n=8;N_BO=2;R=0;g=8;eps=1", WL_OTHER, LAT)  # fmt: skip
s.let("budget_s", "(50/1000*1 - 10/1000)/(61*2)", "s")
s.let("micro_batch_size", "ceil(8/2)", "sequences")
s.let(
    "attention_flop_s",
    "4*1*st_core*4096/(989e12*0.67) + 4*1*2*st_stage_att/(1979e12*0.67)",
    "s",
)
s.let("attention_byte_s", "(st_stage_att*1 + 4*st_kv_layer)/(4.8e12*0.9)", "s")
s.let("attention_latency_s", "3/1e6", "s", "the attention key")
s.let("attention_s", "attention_latency_s + max(attention_flop_s, attention_byte_s)", "s")
s.let("experts_per_gpu", "ceil((48+0)/(1*8))", "experts")
s.let("pairs_mean", "1*4*1*3", "pairs")
s.let("pairs_hot", "pairs_mean*1", "pairs")
s.mid("remote", "min(min(3, 1), 1 - 1)", "domains", "one domain: nothing remote")
s.let("scaleout_dispatch_s", "0", "s", "no scale-out all-to-all: its fixed time does not count")
s.let("scaleout_combine_s", "0", "s")
s.let("scaleout_s", "scaleout_dispatch_s + scaleout_combine_s", "s")
s.let("scaleup_dispatch_s", "11/1e6 + pairs_hot*7168*1/(450e9*0.75)", "s")
s.let("scaleup_combine_s", "13/1e6 + pairs_hot*7168*2/(450e9*0.75)", "s")
s.let("scaleup_s", "scaleup_dispatch_s + scaleup_combine_s", "s")
s.let("gemm_compute_s", "6*pairs_hot*7168*5120/(1979e12*0.56)", "s")
s.let("gemm_weight_s", "6*st_expert/(4.8e12*0.9)", "s")
s.let("gemm_latency_s", "7/1e6", "s", "the grouped_gemm key")
s.let("gemm_s", "gemm_latency_s + max(gemm_compute_s, gemm_weight_s)", "s")
s.let("attention_weight_bytes", "61*st_proj*1 + st_side_att*1 + 2*128815*7168*2", "bytes")
s.let("expert_weight_bytes", "56*6*st_expert", "bytes")
s.let("kv_bytes", "8*st_kv_layer*61", "bytes")
s.let("buffer_bytes", "1*8*1*3*1*7168*3", "bytes")
s.let(
    "gpu_bytes", "attention_weight_bytes + expert_weight_bytes + kv_bytes + buffer_bytes", "bytes"
)
s.let("usable_bytes", "141e9*0.9", "bytes")
s.let("serial_s", "attention_s + gemm_s", "s", "two micro-batches: the all-to-all overlaps")
s.let("stage_s", "max(serial_s, scaleout_s, scaleup_s)", "s")
s.let("gpus", "1*8", "GPUs")
own_pace(s, 61, 2, 10, 1, "1*8*8")
s.mid("useful_flop", "6*pairs_mean*7168*5120", "FLOP")
s.let("ffn_hfu", "useful_flop/(stage_s*1979e12)", "1")
s.let("ffn_ofu", "useful_flop/(gemm_s*1979e12)", "1")
s.let("temporal_sparsity", "gemm_s/stage_s", "1")

# ---- the same EP node with one micro-batch: nothing hides the all-to-all (§6.5) ------------
# Every stage of the case above with b = 8 (one micro-batch of all 8 sequences); the stage
# is attention + GEMM + both scale-up parts in series, 61 stages per step.
s = case("st-h200-latency-ep-one-node-nbo1", "step3", "h200", "sustained", "ep",
         "N=1;n=8;N_BO=1;R=0;g=8;eps=1", WL_OTHER, LAT)  # fmt: skip
s.let("budget_s", "(50/1000*1 - 10/1000)/(61*1)", "s")
s.let("micro_batch_size", "ceil(8/1)", "sequences")
s.let(
    "attention_flop_s",
    "8*1*st_core*4096/(989e12*0.67) + 8*1*2*st_stage_att/(1979e12*0.67)",
    "s",
)
s.let("attention_byte_s", "(st_stage_att*1 + 8*st_kv_layer)/(4.8e12*0.9)", "s")
s.let("attention_latency_s", "3/1e6", "s", "the attention key")
s.let("attention_s", "attention_latency_s + max(attention_flop_s, attention_byte_s)", "s")
s.let("experts_per_gpu", "ceil((48+0)/(1*8))", "experts")
s.let("pairs_mean", "1*8*1*3", "pairs")
s.let("pairs_hot", "pairs_mean*1", "pairs")
s.mid("remote", "min(min(3, 1), 1 - 1)", "domains", "one domain: nothing remote")
s.let("scaleout_dispatch_s", "0", "s", "no scale-out all-to-all: its fixed time does not count")
s.let("scaleout_combine_s", "0", "s")
s.let("scaleout_s", "scaleout_dispatch_s + scaleout_combine_s", "s")
s.let("scaleup_dispatch_s", "11/1e6 + pairs_hot*7168*1/(450e9*0.75)", "s")
s.let("scaleup_combine_s", "13/1e6 + pairs_hot*7168*2/(450e9*0.75)", "s")
s.let("scaleup_s", "scaleup_dispatch_s + scaleup_combine_s", "s")
s.let("gemm_compute_s", "6*pairs_hot*7168*5120/(1979e12*0.56)", "s")
s.let("gemm_weight_s", "6*st_expert/(4.8e12*0.9)", "s")
s.let("gemm_latency_s", "7/1e6", "s", "the grouped_gemm key")
s.let("gemm_s", "gemm_latency_s + max(gemm_compute_s, gemm_weight_s)", "s")
s.let("attention_weight_bytes", "61*st_proj*1 + st_side_att*1 + 2*128815*7168*2", "bytes")
s.let("expert_weight_bytes", "56*6*st_expert", "bytes")
s.let("kv_bytes", "8*st_kv_layer*61", "bytes")
s.let("buffer_bytes", "1*8*1*3*1*7168*3", "bytes")
s.let(
    "gpu_bytes", "attention_weight_bytes + expert_weight_bytes + kv_bytes + buffer_bytes", "bytes"
)
s.let("usable_bytes", "141e9*0.9", "bytes")
s.let(
    "serial_s", "attention_s + gemm_s + scaleout_s + scaleup_s", "s", "one micro-batch: in series"
)
s.let("stage_s", "max(serial_s, scaleout_s, scaleup_s)", "s")
s.let("gpus", "1*8", "GPUs")
own_pace(s, 61, 1, 10, 1, "1*8*8")
s.mid("useful_flop", "6*pairs_mean*7168*5120", "FLOP")
s.let("ffn_hfu", "useful_flop/(stage_s*1979e12)", "1")
s.let("ffn_ofu", "useful_flop/(gemm_s*1979e12)", "1")
s.let("temporal_sparsity", "gemm_s/stage_s", "1")


# ---- tensor parallelism (docs/model.md §20) --------------------------------------------------
# One replica of the model split over the t GPUs of one scale-up domain, r replicas. Every GPU
# of a group sees the group's whole batch n (b = ceil(n / N_BO) per micro-batch), holds its
# share of the heads and M / t of every one of the E experts, and joins two ring all-reduces
# per layer over scale-up: 2 * (l_ar + 2 (t - 1) / t * b q H d_comb / B_su) when t > 1.
# N_BO = 1: stage = t_a + t_G + t_ar; N_BO >= 2: stage = max(t_a + t_G, t_ar).
# No expert imbalance (eps 1) and no redundant experts; sigma_DP only scales the throughput,
# which counts r serving ranks over r t GPUs. The all-reduce fixed time is the hardware key
# allreduce_scale_up (absent from the shipped files, so the cases give it as an override).

# gpt-oss-120b: GQA, H 2880, 64 heads, 8 KV heads of 64; 36 layers, all MoE; 128 experts, K 4,
# M 2880 stored in MXFP4 (0.53125 bytes); no shared expert; vocab 201088; every other layer
# has a 128-token sliding window.
go = Sheet(model_meta("gpt-oss-120b"))
go.mid("go_proj", "2880*64*64 + 2*2880*8*64 + 64*64*2880", "params", "GQA layer")
go.mid("go_kv_elems", "2*8*64", "elements")
go.mid("go_core", "2*64*64 + 2*64*64", "FLOP")
go.mid("go_ctx", "(1 - 0.5)*4096 + 0.5*min(4096, 128)", "tokens", "half the layers windowed")
go.mid("go_kv_layer", "go_kv_elems*1*go_ctx", "bytes", "per sequence and layer, mean context")
MODEL_VALUES.update(go.values)


# ---- case 20: DeepSeek-V3, H800 sustained, TP8, one group, one micro-batch -------------------
# h800 sustained: fp8 1979*0.56 (experts), attention 0.67 of bf16 989 / fp8 1979, HBM 3.35*0.90
# TB/s, scale-up 200*0.78 GB/s, 80 GB * 0.9; [latency] attention 13, grouped_gemm 5 (file) and
# allreduce_scale_up 7 (override). MLA at t = 8: q_a (7168 x 1536) and kv_a (7168 x 576) are
# whole on every GPU, as is the 576-element latent cache; q_b, W_UK, W_UV, W_O and the scores
# are split over the 128 / 8 = 16 heads per GPU. Dense FFNs and the shared expert: / 8.
s = case("ds-h800-sustained-tp8", "deepseek-v3", "h800", "sustained", "tp",
         "r=1;t=8;n=32;N_BO=1;R=0;eps=1", WL_DS,
         "allreduce_scale_up_latency_us=7")  # fmt: skip
s.mid(
    "proj_t",
    "7168*1536 + 7168*(512+64) + (1536*128*(128+64) + 128*128*512 + 128*512*128 + 128*128*7168)/8",
    "params",
    "q_a, kv_a whole; q_b, W_UK, W_UV, o_proj over 8 GPUs",
)
s.mid("core_t", "ds_core/8", "FLOP", "16 of 128 heads per GPU")
s.mid("stage_params_t", "proj_t + ds_side_att/61/8", "params", "dense FFNs + shared, / 8")
s.let("budget_s", "(50/1000*1.7 - 15/1000)/(61*1)", "s")
s.let("micro_batch_size", "ceil(32/1)", "sequences")
s.let(
    "attention_flop_s",
    "32*1*(core_t*4096/(989e12*0.67) + 2*stage_params_t/(1979e12*0.67))",
    "s",
)
s.let(
    "attention_byte_s",
    "(stage_params_t*1 + 32*576*1*4096)/(3.35e12*0.90)",
    "s",
    "every GPU reads the whole latent cache",
)
s.let("attention_latency_s", "13/1e6", "s", "[latency] of the hardware file")
s.let("attention_s", "attention_latency_s + max(attention_flop_s, attention_byte_s)", "s")
s.let("experts_per_gpu", "256", "experts", "every expert, on 2048/8 of its intermediate dim")
s.mid("pairs", "32*1*8", "pairs", "b*q*K: the group's pairs, all run on every GPU")
s.let("pairs_mean", "pairs/8", "pairs", "one GPU's work in pair equivalents")
s.let("pairs_hot", "pairs_mean", "pairs", "no expert imbalance")
s.let("gemm_compute_s", "6*pairs*7168*(2048/8)/(1979e12*0.56)", "s")
s.let("gemm_weight_s", "256*3*7168*(2048/8)*1/(3.35e12*0.90)", "s", "all 256 slices streamed")
s.let("gemm_latency_s", "5/1e6", "s", "[latency] of the hardware file")
s.let("gemm_s", "gemm_latency_s + max(gemm_compute_s, gemm_weight_s)", "s")
s.mid("hidden", "32*1*7168*2", "bytes", "b*q*H*d_comb: the micro-batch's hidden states")
s.let("allreduce_latency_s", "2*7/1e6", "s", "two all-reduces, allreduce_scale_up 7 us")
s.let("allreduce_s", "2*(7/1e6 + 2*(8-1)/8*hidden/(200e9*0.78))", "s", "ring over 8 GPUs")
s.let("serial_s", "attention_s + gemm_s + allreduce_s", "s", "N_BO = 1: nothing hides them")
s.let("stage_s", "max(serial_s, allreduce_s)", "s")
s.let(
    "attention_weight_bytes",
    "61*proj_t*1 + ds_side_att*1/8 + 2*129280*7168*2/8",
    "bytes",
    "vocab-parallel embedding and LM head",
)
s.let("expert_weight_bytes", "58*256*3*7168*(2048/8)*1", "bytes")
s.let("kv_bytes", "32*61*576*1*4096", "bytes", "the whole latent cache on every GPU")
s.let("buffer_bytes", "32*1*7168*2", "bytes", "one hidden state per token in flight")
s.let(
    "gpu_bytes", "attention_weight_bytes + expert_weight_bytes + kv_bytes + buffer_bytes", "bytes"
)
s.let("usable_bytes", "80e9*0.9", "bytes")
s.let("gpus", "1*8", "GPUs", "r*t")
own_pace(s, 61, 1, 15, 1.7, "1*1*32", "sigma*r*n*L/T: r serving ranks")
s.mid("useful_flop", "6*pairs_mean*7168*2048", "FLOP", "= 6*b*q*K*H*(M/t)")
s.let("ffn_hfu", "useful_flop/(stage_s*1979e12)", "1")
s.let("ffn_ofu", "useful_flop/(gemm_s*1979e12)", "1")
s.let("temporal_sparsity", "gemm_s/stage_s", "1")

# ---- case 21: Qwen3-235B, H200 sustained, TP8 x 2 groups, two micro-batches -------------------
# GQA with 4 KV heads at t = 8: each GPU holds W_Q and W_O of 64 / 8 = 8 heads and one whole KV
# head (h_kv_t = max(4/8, 1) = 1, each KV head on two GPUs) and caches that head's K and V.
# N_BO = 2: one micro-batch's all-reduces hide behind the other's compute.
s = case("qw-h200-sustained-tp8", "qwen3-235b-a22b", "h200", "sustained", "tp",
         "r=2;t=8;n=64;N_BO=2;R=0;eps=1", WL_OTHER,
         "allreduce_scale_up_latency_us=7")  # fmt: skip
s.mid(
    "proj_t",
    "(4096*64*128 + 64*128*4096)/8 + 2*4096*1*128",
    "params",
    "W_Q, W_O over 8; W_K, W_V of 1 KV head",
)
s.mid("core_t", "qw_core/8", "FLOP")
s.mid("kv_layer_t", "2*1*128*1*4096", "bytes", "K and V of one KV head at context 4096")
s.let("budget_s", "(50/1000*1 - 10/1000)/(94*2)", "s")
s.let("micro_batch_size", "ceil(64/2)", "sequences")
s.let(
    "attention_flop_s",
    "32*1*(core_t*4096/(989e12*0.67) + 2*(proj_t + 0/94/8)/(1979e12*0.67))",
    "s",
    "no dense layers, no shared expert",
)
s.let("attention_byte_s", "((proj_t + 0/94/8)*1 + 32*kv_layer_t)/(4.8e12*0.9)", "s")
s.let("attention_latency_s", "13/1e6", "s", "[latency] of the hardware file")
s.let("attention_s", "attention_latency_s + max(attention_flop_s, attention_byte_s)", "s")
s.let("experts_per_gpu", "128", "experts")
s.mid("pairs", "32*1*8", "pairs", "b*q*K")
s.let("pairs_mean", "pairs/8", "pairs")
s.let("pairs_hot", "pairs_mean", "pairs")
s.let("gemm_compute_s", "6*pairs*4096*(1536/8)/(1979e12*0.56)", "s")
s.let("gemm_weight_s", "128*3*4096*(1536/8)*1/(4.8e12*0.9)", "s")
s.let("gemm_latency_s", "5/1e6", "s", "[latency] of the hardware file")
s.let("gemm_s", "gemm_latency_s + max(gemm_compute_s, gemm_weight_s)", "s")
s.mid("hidden", "32*1*4096*2", "bytes")
s.let("allreduce_latency_s", "2*7/1e6", "s")
s.let("allreduce_s", "2*(7/1e6 + 2*(8-1)/8*hidden/(450e9*0.75))", "s")
s.let("serial_s", "attention_s + gemm_s", "s", "N_BO = 2: the all-reduces hide")
s.let("stage_s", "max(serial_s, allreduce_s)", "s")
s.let("attention_weight_bytes", "94*proj_t*1 + 0*1/8 + 2*151936*4096*2/8", "bytes")
s.let("expert_weight_bytes", "94*128*3*4096*(1536/8)*1", "bytes")
s.let("kv_bytes", "64*94*kv_layer_t", "bytes")
s.let("buffer_bytes", "64*1*4096*2", "bytes")
s.let(
    "gpu_bytes", "attention_weight_bytes + expert_weight_bytes + kv_bytes + buffer_bytes", "bytes"
)
s.let("usable_bytes", "141e9*0.9", "bytes")
s.let("gpus", "2*8", "GPUs")
own_pace(s, 94, 2, 10, 1, "1*2*64", "sigma*r*n*L/T: r serving ranks")
s.mid("useful_flop", "6*pairs_mean*4096*1536", "FLOP")
s.let("ffn_hfu", "useful_flop/(stage_s*1979e12)", "1")
s.let("ffn_ofu", "useful_flop/(gemm_s*1979e12)", "1")
s.let("temporal_sparsity", "gemm_s/stage_s", "1")

# ---- case 22: gpt-oss-120b, H200 sustained, TP1 x 4 replicas: no all-reduce at all -----------
# t = 1: attention and experts are §4.5 / §5.2 on one GPU holding the whole model; the
# allreduce_scale_up fixed time (7 us) is given but must not count.
s = case("go-h200-sustained-tp1", "gpt-oss-120b", "h200", "sustained", "tp",
         "r=4;t=1;n=64;N_BO=2;R=0;eps=1", WL_OTHER,
         "allreduce_scale_up_latency_us=7")  # fmt: skip
s.let("budget_s", "(50/1000*1 - 10/1000)/(36*2)", "s")
s.let("micro_batch_size", "ceil(64/2)", "sequences")
s.let(
    "attention_flop_s",
    "32*1*(go_core*go_ctx/(989e12*0.67) + 2*go_proj/(1979e12*0.67))",
    "s",
    "all 64 heads, mean context 2112",
)
s.let("attention_byte_s", "(go_proj*1 + 32*go_kv_layer)/(4.8e12*0.9)", "s")
s.let("attention_latency_s", "13/1e6", "s", "[latency] of the hardware file")
s.let("attention_s", "attention_latency_s + max(attention_flop_s, attention_byte_s)", "s")
s.let("experts_per_gpu", "128", "experts")
s.mid("pairs", "32*1*4", "pairs", "b*q*K")
s.let("pairs_mean", "pairs/1", "pairs")
s.let("pairs_hot", "pairs_mean", "pairs")
s.let("gemm_compute_s", "6*pairs*2880*(2880/1)/(1979e12*0.56)", "s")
s.let("gemm_weight_s", "128*3*2880*(2880/1)*0.53125/(4.8e12*0.9)", "s", "MXFP4 experts")
s.let("gemm_latency_s", "5/1e6", "s", "[latency] of the hardware file")
s.let("gemm_s", "gemm_latency_s + max(gemm_compute_s, gemm_weight_s)", "s")
s.let("allreduce_latency_s", "0", "s", "t = 1: no all-reduce, no fixed time")
s.let("allreduce_s", "0", "s")
s.let("serial_s", "attention_s + gemm_s", "s")
s.let("stage_s", "max(serial_s, allreduce_s)", "s")
s.let("attention_weight_bytes", "36*go_proj*1 + 0*1/1 + 2*201088*2880*2/1", "bytes")
s.let("expert_weight_bytes", "36*128*3*2880*(2880/1)*0.53125", "bytes")
s.let("kv_bytes", "64*36*go_kv_layer", "bytes", "window-capped mean context (C3)")
s.let("buffer_bytes", "64*1*2880*2", "bytes")
s.let(
    "gpu_bytes", "attention_weight_bytes + expert_weight_bytes + kv_bytes + buffer_bytes", "bytes"
)
s.let("usable_bytes", "141e9*0.9", "bytes")
s.let("gpus", "4*1", "GPUs")
own_pace(s, 36, 2, 10, 1, "1*4*64", "sigma*r*n*L/T: r serving ranks")
s.mid("useful_flop", "6*pairs_mean*2880*2880", "FLOP")
s.let("ffn_hfu", "useful_flop/(stage_s*1979e12)", "1")
s.let("ffn_ofu", "useful_flop/(gemm_s*1979e12)", "1")
s.let("temporal_sparsity", "gemm_s/stage_s", "1")

# ---- case 23: Step-3, H800 paper, TP4 x 3 groups, three micro-batches, dp_imbalance 0.9 ------
# MFA at t = 4: q_a (7168 x 2048) and the single KV head (W_K, W_V and its cache) whole on
# every GPU, q_b and W_O over 64 / 4 = 16 heads per GPU. The workload puts shared experts on
# the FFN side, which TP ignores (dense FFNs and the shared expert split over t with attention).
# sigma_DP 0.9 scales only the throughput. Paper profile: scale-up 160 GB/s, no fixed times.
WL_ST_TP = WL_ST_FFN.replace("dp_imbalance=1", "dp_imbalance=0.9")
s = case("st-h800-paper-tp4", "step3", "h800", "paper", "tp",
         "r=3;t=4;n=100;N_BO=3;R=0;eps=1", WL_ST_TP)  # fmt: skip
s.mid(
    "proj_t",
    "7168*2048 + (2048*64*256 + 64*256*7168)/4 + 2*7168*1*256",
    "params",
    "q_a and the KV head whole; q_b, W_O over 4",
)
s.mid("core_t", "st_core/4", "FLOP")
s.mid("stage_params_t", "proj_t + st_side_att/61/4", "params", "dense FFNs + shared, / 4")
s.let("budget_s", "(50/1000*1 - 10/1000)/(61*3)", "s")
s.let("micro_batch_size", "ceil(100/3)", "sequences")
s.let(
    "attention_flop_s",
    "34*1*(core_t*4096/989e12 + 2*stage_params_t/1979e12)",
    "s",
    "the fullest micro-batch, no sigma",
)
s.let("attention_byte_s", "(stage_params_t*1 + 34*st_kv_layer)/3.35e12", "s")
s.let("attention_latency_s", "0/1e6", "s", "paper profile: no fixed times")
s.let("attention_s", "attention_latency_s + max(attention_flop_s, attention_byte_s)", "s")
s.let("experts_per_gpu", "48", "experts")
s.mid("pairs", "34*1*3", "pairs", "b*q*K, no sigma: a group sees its own tokens")
s.let("pairs_mean", "pairs/4", "pairs")
s.let("pairs_hot", "pairs_mean", "pairs")
s.let("gemm_compute_s", "6*pairs*7168*(5120/4)/1979e12", "s")
s.let("gemm_weight_s", "48*3*7168*(5120/4)*1/3.35e12", "s")
s.let("gemm_latency_s", "0/1e6", "s", "paper profile: no fixed times")
s.let("gemm_s", "gemm_latency_s + max(gemm_compute_s, gemm_weight_s)", "s")
s.mid("hidden", "34*1*7168*2", "bytes")
s.let("allreduce_latency_s", "2*0/1e6", "s", "paper profile: no fixed times")
s.let("allreduce_s", "2*(0/1e6 + 2*(4-1)/4*hidden/160e9)", "s", "ring over 4 GPUs")
s.let("serial_s", "attention_s + gemm_s", "s", "N_BO = 3: the all-reduces hide")
s.let("stage_s", "max(serial_s, allreduce_s)", "s")
s.let("attention_weight_bytes", "61*proj_t*1 + st_side_att*1/4 + 2*128815*7168*2/4", "bytes")
s.let("expert_weight_bytes", "56*48*3*7168*(5120/4)*1", "bytes")
s.let("kv_bytes", "100*61*st_kv_layer", "bytes", "the one KV head's cache on every GPU")
s.let("buffer_bytes", "100*1*7168*2", "bytes", "no sigma")
s.let(
    "gpu_bytes", "attention_weight_bytes + expert_weight_bytes + kv_bytes + buffer_bytes", "bytes"
)
s.let("usable_bytes", "80e9*0.9", "bytes")
s.let("gpus", "3*4", "GPUs")
own_pace(s, 61, 3, 10, 1, "0.9*3*100", "sigma*r*n*L/T: r serving ranks")
s.mid("useful_flop", "6*pairs_mean*7168*5120", "FLOP")
s.let("ffn_hfu", "useful_flop/(stage_s*1979e12)", "1")
s.let("ffn_ofu", "useful_flop/(gemm_s*1979e12)", "1")
s.let("temporal_sparsity", "gemm_s/stage_s", "1")


def main() -> None:
    with OUT.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(ROWS)


if __name__ == "__main__":
    main()

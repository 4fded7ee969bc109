"""Benchmark expert placement on DeepSeek-V3-sized layers (256 experts, top-8).

Usage: python benchmarks/bench_placement.py [--loads zipf:s=1.1,seed=7] [--layers 1 58]
       [--time-limit 2] [--backend highs] [--workers N]

For each (ranks, slots per rank, replicas) cell and layer count it prints the
time per layer, max/mean rank load of the program, of the greedy baseline and
of the lower bound, the worst gap to the bound and whether every layer met the
target (proven optimal, or within 1 % of the bound, in under 2 s).

Zipf layers are permutations of one multiset, so 58 Zipf layers cost one solve;
pass lognormal loads to time distinct layers.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from formulations.types import Model  # noqa: E402
from solver.io.loads import load_expert_loads  # noqa: E402
from solver.placement.place import place_layers  # noqa: E402

TARGET_GAP = 0.01
TARGET_S = 2.0

DEEPSEEK_V3 = Model(
    name="deepseek-v3",
    num_layers=61,
    num_dense_layers=3,
    hidden_size=7168,
    num_routed_experts=256,
    experts_per_token=8,
    num_shared_experts=1,
    moe_intermediate_size=2048,
    vocab_size=129280,
    attention="mla",
    num_attention_heads=128,
    q_lora_rank=1536,
    kv_lora_rank=512,
    qk_rope_head_dim=64,
    qk_nope_head_dim=128,
    v_head_dim=128,
    n_group=8,
    topk_group=4,
)


def cells(experts: int) -> list[tuple[int, int, int]]:
    """(ranks, slots per rank, replicas) from 256 to 288 slots in total."""
    out = [(32, 8, 0)] + [(32, 9, r) for r in range(0, 33, 4)]
    out += [(64, 4, 0)] + [(64, 5, r) for r in (0, 8, 16, 24, 32)]
    out += [(288, 1, 32)]
    return [(p, s, r) for p, s, r in out if experts + r <= p * s]


def run(loads: np.ndarray, args: argparse.Namespace) -> None:
    header = (
        f"{'ranks':>5} {'slots':>5} {'R':>3} {'layers':>6} {'wall_s':>7} {'s/layer':>8} "
        f"{'max_s':>6} {'program':>8} {'greedy':>7} {'bound':>7} {'gap%':>6} "
        f"{'optimal':>7} target"
    )
    print(header)
    for ranks, slots, replicas in cells(loads.shape[1]):
        for layers in args.layers:
            block = loads[:layers]
            start = time.perf_counter()
            summary, _ = place_layers(
                block,
                ranks,
                slots,
                replicas,
                backend=args.backend,
                time_limit_s=args.time_limit,
                workers=args.workers,
            )
            wall = time.perf_counter() - start
            mean = summary["mean_load"]
            solved = summary[summary["solve_s"] > 0]
            ok = (summary["status"] == "optimal") | (summary["gap"] <= TARGET_GAP)
            ok &= summary["solve_s"] <= TARGET_S
            print(
                f"{ranks:>5} {slots:>5} {replicas:>3} {layers:>6} {wall:>7.2f} "
                f"{solved['solve_s'].mean():>8.3f} {summary['solve_s'].max():>6.2f} "
                f"{(summary['max_load'] / mean).mean():>8.4f} "
                f"{(summary['greedy_max_load'] / mean).mean():>7.4f} "
                f"{(summary['lower_bound'] / mean).mean():>7.4f} "
                f"{100 * summary['gap'].max():>6.2f} "
                f"{(summary['status'] == 'optimal').sum():>3}/{layers:<3} "
                f"{'yes' if ok.all() else 'NO'}",
                flush=True,
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loads", default="zipf:s=1.1,seed=7", help="loads spec or CSV path")
    parser.add_argument("--layers", type=int, nargs="+", default=[1, 58], help="layer counts")
    parser.add_argument("--time-limit", type=float, default=TARGET_S, help="seconds per layer")
    parser.add_argument("--backend", default="highs", help="highs, cbc or cpsat")
    parser.add_argument("--workers", type=int, default=None, help="processes (default: cores)")
    args = parser.parse_args()
    loads = load_expert_loads(args.loads, DEEPSEEK_V3)
    print(
        f"loads {args.loads}: {loads.shape[0]} layers x {loads.shape[1]} experts, "
        f"{int(loads[0].sum())} expert-token assignments per layer"
    )
    run(loads, args)


if __name__ == "__main__":
    main()

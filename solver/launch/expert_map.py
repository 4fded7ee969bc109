"""Expert maps in the forms engines load at start-up, and read back (docs/model.md §14).

A map is an int array `(layers, P, G)`: the logical expert in each of the `G` slots of each of
the `P` expert ranks, for every MoE layer; physical expert `p = rank * G + slot`, the layout
every engine here uses (rank r holds physical experts r G .. r G + G - 1).

Formats (the pinned versions of `solver.launch.flags`):
- `sglang`: JSON `{"physical_to_logical_map": [[...], ...]}`, one row per decoder layer
  (dense layers included, which SGLang indexes too; they get the trivial map p mod E), each of
  `G P` logical ids; loaded by `--init-expert-location FILE.json` with
  `--ep-num-redundant-experts G P - E` (sglang/srt/eplb/expert_location.py, init_by_mapping).
- `trtllm`: the `moe_config.load_balancer` table of TensorRT-LLM's YAML config:
  `num_slots` = G P, `initial_global_assignments` = {decoder layer: G P logical ids} for the MoE
  layers only, `layer_updates_per_iter: 0` (static: MoeLoadBalancerConfig in llm_args.py).
- `vllm`: vLLM 0.33.0 loads no expert map at start-up (its `--eplb-config` takes the number of
  redundant experts and rebalances from observed loads); this writes the same
  physical-to-logical rows its EPLB state keeps (`EplbState`, one row per MoE layer) with a
  note saying so, for inspection or a loader of your own.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd

FORMATS = ("sglang", "vllm", "trtllm")


def trivial_map(layers: int, ranks: int, slots: int, experts: int) -> np.ndarray:
    """Slot p holds expert p mod E on every layer (the engines' default layout)."""
    row = np.arange(ranks * slots) % experts
    return np.tile(row.reshape(ranks, slots), (layers, 1, 1))


def from_placement(placement: pd.DataFrame, layers: int, ranks: int, slots: int) -> np.ndarray:
    """The map of a `place` table (`layer, rank, expert, replica_share`), one row per replica.

    Loads with fewer layers than `layers` are reused cyclically (layer i takes loads row
    i mod L). Every rank must hold exactly `slots` replicas (placements padded to G P)."""
    placed = sorted(placement["layer"].unique())
    out = np.empty((layers, ranks, slots), dtype=np.int64)
    per_layer = {
        layer: rows.sort_values(["rank", "expert"]) for layer, rows in placement.groupby("layer")
    }
    for i in range(layers):
        rows = per_layer[placed[i % len(placed)]]
        counts = rows.groupby("rank").size().reindex(range(ranks), fill_value=0)
        if (counts != slots).any():
            bad = int(counts.index[counts != slots][0])
            raise ValueError(f"rank {bad} holds {counts[bad]} replicas, expected {slots}")
        out[i] = rows["expert"].to_numpy().reshape(ranks, slots)
    return out


def moe_layer_ids(num_layers: int, num_dense_layers: int) -> list[int]:
    """Decoder-layer index of each MoE layer (the dense layers come first, docs/model.md §1)."""
    return list(range(num_dense_layers, num_layers))


def sglang_document(
    rank_slots: np.ndarray, experts: int, num_layers: int, num_dense_layers: int
) -> dict:
    moe, ranks, slots = rank_slots.shape
    trivial = [p % experts for p in range(ranks * slots)]
    rows = [trivial for _ in range(num_layers)]
    for i, layer in enumerate(moe_layer_ids(num_layers, num_dense_layers)[:moe]):
        rows[layer] = rank_slots[i].reshape(-1).tolist()
    return {"physical_to_logical_map": rows}


def trtllm_load_balancer(
    rank_slots: np.ndarray | None, num_slots: int, num_layers: int, num_dense_layers: int
) -> dict[str, Any]:
    """`moe_config.load_balancer` of TensorRT-LLM's config (static when a map is given)."""
    table: dict[str, Any] = {"num_slots": num_slots}
    if rank_slots is None:
        table["layer_updates_per_iter"] = 1  # no loads known: let it rebalance online
        return table
    layers = moe_layer_ids(num_layers, num_dense_layers)
    table["initial_global_assignments"] = {
        layer: rank_slots[i].reshape(-1).tolist() for i, layer in enumerate(layers)
    }
    table["layer_updates_per_iter"] = 0
    return table


def vllm_document(rank_slots: np.ndarray, num_layers: int, num_dense_layers: int) -> dict:
    return {
        "note": "vLLM 0.33.0 loads no expert map at start-up; these are the physical-to-logical "
        "rows of its EPLB state (one per MoE layer), for inspection or your own loader",
        "moe_layers": moe_layer_ids(num_layers, num_dense_layers)[: len(rank_slots)],
        "physical_to_logical_map": [row.reshape(-1).tolist() for row in rank_slots],
    }


def render(
    fmt: str, rank_slots: np.ndarray, experts: int, num_layers: int, num_dense_layers: int
) -> str:
    """The file text of one format (`FORMATS`)."""
    if fmt == "sglang":
        doc = sglang_document(rank_slots, experts, num_layers, num_dense_layers)
        return json.dumps(doc) + "\n"
    if fmt == "vllm":
        return json.dumps(vllm_document(rank_slots, num_layers, num_dense_layers)) + "\n"
    num_slots = rank_slots.shape[1] * rank_slots.shape[2]
    table = trtllm_load_balancer(rank_slots, num_slots, num_layers, num_dense_layers)
    return to_yaml({"moe_config": {"load_balancer": table}})


def read_back(fmt: str, text: str, ranks: int, num_dense_layers: int) -> np.ndarray:
    """The `(MoE layers, P, G)` map of a file written by `render` (for the round-trip test and
    for checking a file by hand)."""
    if fmt == "trtllm":
        table = from_yaml(text)["moe_config"]["load_balancer"]
        assignments = table["initial_global_assignments"]
        rows = [assignments[k] for k in sorted(assignments)]
    else:
        doc = json.loads(text)
        rows = doc["physical_to_logical_map"]
        if fmt == "sglang":
            rows = rows[num_dense_layers:]
    arr = np.asarray(rows, dtype=np.int64)
    return arr.reshape(arr.shape[0], ranks, arr.shape[1] // ranks)


def map_problems(rank_slots: np.ndarray, experts: int, slots_per_rank: int) -> list[str]:
    """What makes a map unusable: an expert missing from a layer, an id out of range, a rank
    with more slots than it holds, one expert twice on one rank."""
    problems = []
    layers, _, slots = rank_slots.shape
    if slots > slots_per_rank:
        problems.append(f"{slots} slots per rank, at most {slots_per_rank}")
    for i in range(layers):
        ids = rank_slots[i]
        if ids.min() < 0 or ids.max() >= experts:
            problems.append(f"layer {i}: expert id out of [0, {experts})")
        missing = np.setdiff1d(np.arange(experts), ids)
        if missing.size:
            problems.append(f"layer {i}: experts {missing[:5].tolist()} have no slot")
        for r, row in enumerate(ids):
            if len(set(row.tolist())) != len(row):
                problems.append(f"layer {i}: rank {r} holds an expert twice")
    return problems


# ---- a small YAML writer and reader for the nested mappings of an engine config ------------
# TensorRT-LLM reads YAML; the package needs no YAML library for the little it writes: nested
# mappings of scalars and flat lists of scalars (flow style).


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return json.dumps(str(value))


def to_yaml(doc: dict, indent: int = 0) -> str:
    lines = []
    pad = " " * indent
    for key, value in doc.items():
        if isinstance(value, dict):
            lines.append(f"{pad}{key}:")
            lines.append(to_yaml(value, indent + 2).rstrip("\n"))
        elif isinstance(value, list | tuple):
            lines.append(f"{pad}{key}: [{', '.join(_scalar(v) for v in value)}]")
        else:
            lines.append(f"{pad}{key}: {_scalar(value)}")
    return "\n".join(lines) + "\n"


def _parse_scalar(text: str) -> Any:
    text = text.strip()
    if text.startswith("["):
        inner = text[1:-1].strip()
        return [_parse_scalar(v) for v in inner.split(",")] if inner else []
    if text in ("true", "false"):
        return text == "true"
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def from_yaml(text: str) -> dict:
    """Read what `to_yaml` writes (not general YAML)."""
    root: dict = {}
    stack: list[tuple[int, dict]] = [(-1, root)]
    for raw in text.splitlines():
        if not raw.strip() or raw.lstrip().startswith("#"):
            continue
        indent = len(raw) - len(raw.lstrip())
        key, _, value = raw.strip().partition(":")
        while stack[-1][0] >= indent:
            stack.pop()
        parent = stack[-1][1]
        name: Any = int(key) if key.isdigit() else key
        if value.strip():
            parent[name] = _parse_scalar(value)
        else:
            parent[name] = {}
            stack.append((indent, parent[name]))
    return root

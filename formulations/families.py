"""The one registry of constraint families (docs/model.md §10).

Every constraint of a deployment belongs to one family. The checks, the layouts' integer caps,
the programs' rows, the infeasibility diagnostics, the shadow prices and the binding report all
read this table instead of keeping their own lists. A family says:

- which architecture and side it belongs to, and which physical resource it spends;
- `kind`: "time" (a per-layer stage time against the stage budget) or "memory" (bytes on one
  GPU against its usable HBM);
- `batch`: the batch quantity it grows with, which is what its integer cap bounds:
  "micro_batch" (b, sequences of the largest micro-batch on one GPU), "sequences" (n, every
  sequence in flight on one GPU), "pool_micro" (S = N_A * b, the attention pool's largest
  micro-batch) or "pool_sequences" (T = N_A * n). Every family is monotone (non-decreasing)
  in its batch, which is what makes the caps exact;
- `field`: the name of the stage quantity (an attribute of the architecture's stages) that is
  compared with the limit;
- `what`: how to say it to a user, and `fix`: what relaxes it.
"""

from __future__ import annotations

from dataclasses import dataclass

KINDS = ("time", "memory")
BATCHES = ("micro_batch", "sequences", "pool_micro", "pool_sequences")


@dataclass(frozen=True)
class Family:
    """One constraint family."""

    name: str
    architecture: str
    side: str
    resource: str
    """compute|hbm_bandwidth (resolved per deployment: "roofline"), scale_out, scale_up,
    link (scale-out, or scale-up inside a superpod domain), hbm_capacity."""
    kind: str
    batch: str
    field: str
    unit: str
    what: str
    fix: str

    @property
    def grows_with_batch(self) -> bool:
        """Every family grows with its batch (the caps and the diagnostics rely on it)."""
        return True


FAMILIES: tuple[Family, ...] = (
    Family(
        "attention:latency",
        "afd",
        "attention",
        "roofline",
        "time",
        "micro_batch",
        "attention_s",
        "s",
        "attention time of one micro-batch per layer stage",
        "fewer sequences per attention GPU or a longer TPOT target",
    ),
    Family(
        "attention:wire",
        "afd",
        "attention",
        "link",
        "time",
        "micro_batch",
        "attention_wire_s",
        "s",
        "sending one micro-batch's tokens from an attention GPU to the FFN pool",
        "fewer sequences per attention GPU or a faster attention-side link",
    ),
    Family(
        "attention:hbm_capacity",
        "afd",
        "attention",
        "hbm_capacity",
        "memory",
        "sequences",
        "attention_bytes",
        "bytes",
        "attention-GPU memory: weights, KV cache of every sequence in flight, buffers",
        "fewer sequences per attention GPU, a shorter context or more HBM",
    ),
    Family(
        "ffn:gemm",
        "afd",
        "ffn",
        "roofline",
        "time",
        "pool_micro",
        "gemm_s",
        "s",
        "grouped GEMM of the hottest FFN GPU per layer stage",
        "more FFN nodes or fewer attention nodes",
    ),
    Family(
        "ffn:scale_out",
        "afd",
        "ffn",
        "scale_out",
        "time",
        "pool_micro",
        "ffn_scaleout_s",
        "s",
        "scale-out ingress of the hottest FFN node per layer stage",
        "more FFN nodes or faster NICs",
    ),
    Family(
        "ffn:scale_up",
        "afd",
        "ffn",
        "scale_up",
        "time",
        "pool_micro",
        "ffn_scaleup_s",
        "s",
        "scale-up fan-out into the hottest FFN GPU per layer stage",
        "more FFN nodes or a faster scale-up fabric",
    ),
    Family(
        "ffn:hbm_capacity",
        "afd",
        "ffn",
        "hbm_capacity",
        "memory",
        "pool_sequences",
        "ffn_bytes",
        "bytes",
        "FFN-GPU memory: expert weights and receive buffers",
        "more FFN nodes",
    ),
    Family(
        "ep:latency",
        "ep",
        "ep",
        "roofline",
        "time",
        "micro_batch",
        "serial_s",
        "s",
        "attention plus grouped GEMM of one micro-batch per layer stage (plus its all-to-all "
        "when one micro-batch leaves nothing to overlap it with)",
        "fewer sequences per GPU or a longer TPOT target",
    ),
    Family(
        "ep:scale_out",
        "ep",
        "ep",
        "scale_out",
        "time",
        "micro_batch",
        "scaleout_s",
        "s",
        "the scale-out all-to-all of one micro-batch per layer stage",
        "fewer nodes, fewer sequences per GPU or faster NICs",
    ),
    Family(
        "ep:scale_up",
        "ep",
        "ep",
        "scale_up",
        "time",
        "micro_batch",
        "scaleup_s",
        "s",
        "the scale-up all-to-all of one micro-batch per layer stage",
        "fewer sequences per GPU or a faster scale-up fabric",
    ),
    Family(
        "ep:hbm_capacity",
        "ep",
        "ep",
        "hbm_capacity",
        "memory",
        "sequences",
        "gpu_bytes",
        "bytes",
        "GPU memory: attention weights, experts, KV cache of every sequence in flight, buffers",
        "more nodes (fewer experts per GPU), fewer sequences per GPU or a shorter context",
    ),
    Family(
        "tp:latency",
        "tp",
        "tp",
        "roofline",
        "time",
        "micro_batch",
        "serial_s",
        "s",
        "attention and experts of one micro-batch on its share of the heads and of M, plus the "
        "two all-reduces when nothing overlaps them, per layer stage",
        "fewer sequences per group, a larger tensor-parallel size or a longer TPOT target",
    ),
    Family(
        "tp:scale_up",
        "tp",
        "tp",
        "scale_up",
        "time",
        "micro_batch",
        "allreduce_s",
        "s",
        "the two all-reduces of one micro-batch per layer stage",
        "fewer sequences per group, a smaller tensor-parallel size or a faster scale-up fabric",
    ),
    Family(
        "tp:hbm_capacity",
        "tp",
        "tp",
        "hbm_capacity",
        "memory",
        "sequences",
        "gpu_bytes",
        "bytes",
        "GPU memory: its share of the weights and of every expert, the group's KV cache",
        "a larger tensor-parallel size, fewer sequences per group or a shorter context",
    ),
)

BY_NAME: dict[str, Family] = {f.name: f for f in FAMILIES}


def of(architecture: str) -> tuple[Family, ...]:
    """The families of one architecture, in registry order."""
    return tuple(f for f in FAMILIES if f.architecture == architecture)


def get(name: str) -> Family:
    """The family called `name`; KeyError names the known ones."""
    try:
        return BY_NAME[name]
    except KeyError:
        raise KeyError(f"unknown constraint family {name!r}; known: {', '.join(BY_NAME)}") from None

"""`solve --uncertainty`: sample the hardware, solve each sample, and say how sure the verdict is
(docs/model.md §19.4-§19.5)."""

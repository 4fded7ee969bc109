"""`--report FILE.html` pages of `sweep`, `crossover`, `solve --uncertainty` and `size` (issue
16 part 3), one module each, built on `solver.report_html`'s frame, CSS, tables and inlined
charts so every page looks, prints and is checked alike."""

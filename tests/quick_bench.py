"""`segzoo bench` flags that time nothing worth timing: one repeat, no warm-up, no throughput run, eager, quiet.
For tests that check what bench records, not how fast a model is."""

QUICK_BENCH = ["--repeat", "1", "--warmup", "0", "--throughput-batch", "0", "--engine", "eager", "--no-progress"]

"""Making a plan real: the executor (which target adapter, the report's lines, a bounded pool) over the one
write sequence (last gate, stale check, write-ahead line, write, read-back) and its three target adapters,
the streamed pass that apply and backfill run (targets before repositories, then listing, reads and writes
at once, the closing sweep), the write report, restore."""

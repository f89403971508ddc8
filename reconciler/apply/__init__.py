"""Making a plan real: the executor (stale checks, last gate, bounded pool), the streamed pass that apply and
backfill run (targets before repositories, then listing, reads and writes at once, the closing sweep), the
write report, restore."""

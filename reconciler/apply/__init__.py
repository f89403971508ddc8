"""Making a plan real: the executor (stale checks, last gate, bounded pool), the write report, restore."""

"""CLI subcommands that do I/O: each wires the pure core to the live clients and the reports."""

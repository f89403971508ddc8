"""The run layer, between the commands and the pipeline: one `Run` per invocation (runner.py), built from
the loaded desired state, the scope, the tuning and the clients. It owns the pre-flight checks (principals
against AWS Organizations, providers shared between registries: preflight.py), which role each command's
clients use (clients.py) and the choice of execution mode: plan (read.py), streamed apply, two-phase apply
(`--max-changes`), apply of a saved plan (write.py). Commands parse arguments and print."""

"""Local doubles of the services the reconciler talks to, for the demo, the tests and the benchmarks.

- `reconciler.sandbox.ecr.EcrEmulator`: moto's ECR (and STS) behind a middleware that adds what real ECR
  does and moto doesn't: pagination, throttling, latency, policy read-back rewriting, validation, faults.
- `reconciler.sandbox.nullplatform.NullplatformApi`: the provider endpoints of the nullplatform API.
- `reconciler.sandbox.github.GithubApi`: pull-request (issue) comments of the GitHub REST API.
- `reconciler.sandbox.seed`: fills the ECR emulator with repositories in mixed states.
- `reconciler.sandbox.command`: `reconciler sandbox`, all of the above on 127.0.0.1 until Ctrl-C.

Every double is a WSGI app served by a small threaded HTTP/1.1 server in a daemon thread of the current
process (so tests can reach into its state directly) on 127.0.0.1 and a free port. The pieces they share:
`reconciler.sandbox.server` (the HTTP server) and `reconciler.sandbox.rest` (routing, faults, counters of the
REST doubles). Neither imports anything heavy, so importing one double doesn't pay for moto.
"""

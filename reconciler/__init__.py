"""ecr-policy-reconciler: GitOps for cross-account pull access to AWS ECR."""

__version__ = "0.1.0"

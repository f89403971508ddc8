"""The only package that talks to AWS (ecr) and nullplatform (nullplatform)."""

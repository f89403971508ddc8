"""IAM repository policies: render, normalize, ownership, guard. Pure functions: no boto3, no HTTP."""

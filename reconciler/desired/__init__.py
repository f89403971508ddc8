"""The desired state: YAML files under policies/, loaded strictly into a typed model."""

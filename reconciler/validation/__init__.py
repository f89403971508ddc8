"""Loading policies/ with every check, the `validate` and `registries` commands. The checks that render
policies or resolve grants (semantic.py, widening.py) sit here, above desired/ (the model and its loading)
and policy/ (rendering, which takes the desired model): neither of those imports this package."""

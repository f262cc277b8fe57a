"""What user pipeline modules import: pipelines, stages, kernels, caches, resources, parallel.

Light on purpose: it imports neither the engine nor Textual (an import contract checks it),
and heavy packages (joblib, torch) only when a feature asks for them.
"""

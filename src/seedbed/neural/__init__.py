"""Neural backend: a real transformer with latent personas, put through the pipeline (DESIGN.md §5).

Heavy dependencies (torch, transformers) are imported inside the functions that need them.
"""

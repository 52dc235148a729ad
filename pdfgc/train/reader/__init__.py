"""The training-time reader: WebDataset shards -> deterministic, resumable batches."""

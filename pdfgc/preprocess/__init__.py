"""Preprocessing: discover videos, decode, track and align faces, label, write WebDataset shards.

``shard_worker.process_video`` is the per-video worker and ``pack.pack_shards`` gathers its
staged output into shards; both are plain functions the Prefect flow runs on Dask.
"""

"""Champion/challenger retraining: the promotion decision and the one-retrain-per-registry lock
(plain Python; the flow is ``flows/retrain.py``, the registry calls are in
``pdfgc.integrations.mlflow_registry``)."""

"""Adapters to outside services (MLflow); each imports its library lazily."""

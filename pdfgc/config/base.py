"""What every config section shares: the pydantic base class and shared defaults."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

HUGE_PAGE_MALLOC_ENV = {"GLIBC_TUNABLES": "glibc.malloc.hugetlb=1"}
"""glibc >= 2.35 backs malloc with transparent huge pages (where THP is ``madvise`` or
``always``); elsewhere the variable does nothing."""


SAFE_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"
"""A plain file-name part: never a path, never hidden."""
MAX_BATCH_SIZE = 65536
MAX_PROCESSES = 1024
DASK_CLUSTER_MODULES = ("dask.", "distributed.", "dask_jobqueue.", "dask_kubernetes.", "dask_cloudprovider.",
                        "dask_gateway.", "dask_yarn.", "dask_mpi.", "coiled.")
"""Module prefixes ``compute.cluster_class`` may name; flows/runners.py also checks that the
imported object is a subclass of Dask's ``Cluster``, so config can never name any other callable."""


class Section(BaseModel):
    """Base for every config section: unknown keys are errors, assignment is validated, and the
    string literal under each field is its description (``pdfgc config show --explain``)."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, use_attribute_docstrings=True)

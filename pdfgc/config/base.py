"""What every config section shares: the pydantic base class and shared defaults."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

HUGE_PAGE_MALLOC_ENV = {"GLIBC_TUNABLES": "glibc.malloc.hugetlb=1"}
"""glibc >= 2.35 backs malloc with transparent huge pages (where THP is ``madvise`` or
``always``); elsewhere the variable does nothing."""


class Section(BaseModel):
    """Base for every config section: unknown keys are errors, assignment is validated, and the
    string literal under each field is its description (``pdfgc config show --explain``)."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, use_attribute_docstrings=True)

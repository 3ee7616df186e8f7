"""Readers and writers: safe model artifacts, tables, atomic writes."""

from ._artifact import ArtifactError, load_artifact, save_artifact
from ._atomic import atomic_path
from ._tables import read_table, write_table

__all__ = ["ArtifactError", "atomic_path", "load_artifact", "read_table", "save_artifact", "write_table"]

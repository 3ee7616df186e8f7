"""Readers and writers: safe model artifacts, tables, atomic writes."""

from ._artifact import ArtifactError, load_artifact, save_artifact
from ._atomic import atomic_path
from ._npz import NpzError, read_npz
from ._tables import read_table, write_table

__all__ = ["ArtifactError", "NpzError", "atomic_path", "load_artifact", "read_npz", "read_table",
           "save_artifact", "write_table"]

"""Ingest: read real and user data sets into the canonical tables (see :mod:`coreduce.schema`)."""

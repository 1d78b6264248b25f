"""Celery tasks: thin wrappers that pass ids and dates to the plain functions."""

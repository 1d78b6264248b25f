"""The Celery app (app.py) and the tasks: thin wrappers that pass ids and dates to the plain functions."""

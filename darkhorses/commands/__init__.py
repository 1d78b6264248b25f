"""The commands people run: `python -m darkhorses <command>` and the one-process `run`."""

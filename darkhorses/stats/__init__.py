"""Statistics over the collected data: the figures, per-day rollups, the replaced service's JSON
files, the HTML report and race charts."""

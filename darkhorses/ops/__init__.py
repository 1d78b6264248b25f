"""Running the service: the `status` report, each task's last run, and alerts to a webhook."""

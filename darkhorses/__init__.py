"""DarkHorses Workers: UK and Irish racing odds and results from The Racing API."""


def __getattr__(name):
    # `celery -A darkhorses` looks up `darkhorses.app`; importing the package for anything
    # else (settings, the simulator, models) must not build the Celery app.
    if name in ("app", "celery"):
        from .tasks.app import app
        return app
    raise AttributeError(name)

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("config")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.on_after_configure.connect
def _make_var_dirs(**kwargs: object) -> None:
    # A worker's entry point: the filesystem broker's folders must exist before it listens.
    from config.var_dir import ensure_var_dirs

    ensure_var_dirs()

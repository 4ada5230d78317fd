import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

application = get_wsgi_application()

from config.var_dir import ensure_var_dirs  # noqa: E402  (needs the settings loaded above)

ensure_var_dirs()

#!/usr/bin/env python
import os
import sys

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django
    from django.core.management import execute_from_command_line

    django.setup()
    from config.var_dir import ensure_var_dirs

    ensure_var_dirs()
    execute_from_command_line(sys.argv)

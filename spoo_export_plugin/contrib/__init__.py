"""Files for hosts: a gunicorn config (``gunicorn_conf.py``) and a minimal example host."""

"""WSGI apps that test servers (gunicorn) import in their worker processes."""

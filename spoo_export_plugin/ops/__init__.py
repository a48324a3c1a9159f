"""Operations: the spoo-export command line, the gunicorn server, the demo, indexes."""

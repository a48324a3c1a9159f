"""The Falcon/WSGI adapter: app, middleware, resource, hooks, guard, error mapping, OpenAPI."""

"""JupyterHub glue for Podium: service definition, roles and scopes, and the ``podium`` command."""

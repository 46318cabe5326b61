"""The HTTP adapter: the Litestar app (``create_app``), its controllers, auth and problem details."""

"""Identity providers for tests and demos (runnable and importable): ``oidc`` and ``saml``."""

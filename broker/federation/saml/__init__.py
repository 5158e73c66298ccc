"""SAML 2.0 federation: IdP metadata, response validation (the only place python3-saml is imported)."""

"""IAM identity-provider operations (OIDC and SAML providers).

``OPERATIONS`` maps each Query-API action name to its operation, with default settings (``https://``
issuers only). The app builds its own table from configuration::

    from broker.service.providers import ProviderSettings, make_operations
    ops = make_operations(ProviderSettings(allow_http_issuers=settings.allow_http_issuers))
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from broker.service.env import OpEnv, OpFunc
from broker.service.providers import oidc, saml
from broker.service.providers.common import ProviderSettings

__all__ = ["OPERATIONS", "ProviderSettings", "make_operations"]


def make_operations(settings: ProviderSettings) -> dict[str, OpFunc]:
    """The provider operations, keyed by action name, bound to ``settings``."""

    def create_oidc(env: OpEnv, params: Mapping[str, Any]) -> dict[str, Any]:
        return oidc.create_open_id_connect_provider(settings, env, params)

    def create_saml(env: OpEnv, params: Mapping[str, Any]) -> dict[str, Any]:
        return saml.create_saml_provider(settings, env, params)

    return {
        "CreateOpenIDConnectProvider": create_oidc,
        "GetOpenIDConnectProvider": oidc.get_open_id_connect_provider,
        "ListOpenIDConnectProviders": oidc.list_open_id_connect_providers,
        "DeleteOpenIDConnectProvider": oidc.delete_open_id_connect_provider,
        "AddClientIDToOpenIDConnectProvider": oidc.add_client_id_to_open_id_connect_provider,
        "RemoveClientIDFromOpenIDConnectProvider": oidc.remove_client_id_from_open_id_connect_provider,
        "UpdateOpenIDConnectProviderThumbprint": oidc.update_open_id_connect_provider_thumbprint,
        "TagOpenIDConnectProvider": oidc.tag_open_id_connect_provider,
        "UntagOpenIDConnectProvider": oidc.untag_open_id_connect_provider,
        "ListOpenIDConnectProviderTags": oidc.list_open_id_connect_provider_tags,
        "CreateSAMLProvider": create_saml,
        "GetSAMLProvider": saml.get_saml_provider,
        "ListSAMLProviders": saml.list_saml_providers,
        "UpdateSAMLProvider": saml.update_saml_provider,
        "DeleteSAMLProvider": saml.delete_saml_provider,
        "TagSAMLProvider": saml.tag_saml_provider,
        "UntagSAMLProvider": saml.untag_saml_provider,
        "ListSAMLProviderTags": saml.list_saml_provider_tags,
    }


OPERATIONS: dict[str, OpFunc] = make_operations(ProviderSettings())

"""broker as a library: verify and authorize requests made with broker credentials, locally.

The same SigV4 verifier (``ASIA…`` keys opened from their sealed session token with the keyring held in
memory), bearer-token verifier and IAM policy evaluator broker uses for its own API (SPEC.md §3.3), so a
service decides without a network hop. Typical use inside a service::

    from broker.config import Settings
    from broker.pdp import open_local_pdp
    from broker.credentials.sigv4 import SignedRequest

    local = open_local_pdp(Settings())        # BROKER_DATABASE_URL, BROKER_MASTER_KEY, BROKER_ACCOUNT_ID
    local.start()                             # keyring, revocations and policies kept fresh
    result = local.pdp.authorize_sigv4(SignedRequest.build(method, path, query, headers, body),
                                       "example:GetThing", "arn:aws:example:::thing/1")
    result.decision                           # "Allow" | "ExplicitDeny" | "ImplicitDeny"
    result.to_json()                          # the /v1/authorize answer

``broker.api.middleware.PdpMiddleware`` wraps this for ASGI applications; docs/authorize.md describes the
deployment model.
"""

from broker.pdp.bearer import BearerClaims, BearerVerifier
from broker.pdp.local import LocalPdp, PolicyRefresher, open_local_pdp
from broker.pdp.point import Authenticated, PolicyDecisionPoint, RequestFacts
from broker.pdp.policies import CachingAuthorizer
from broker.pdp.result import AuthzResult, principal_json
from broker.pdp.wire import AuthorizeQuestion, parse_question

__all__ = [
    "Authenticated",
    "AuthorizeQuestion",
    "AuthzResult",
    "BearerClaims",
    "BearerVerifier",
    "CachingAuthorizer",
    "LocalPdp",
    "PolicyDecisionPoint",
    "PolicyRefresher",
    "RequestFacts",
    "open_local_pdp",
    "parse_question",
    "principal_json",
]

"""Who may assume a role: trust policies evaluated for federated principals, with reasons (pure)."""

from broker.trust.evaluate import TrustDecision, evaluate_trust, federated_principal

__all__ = ["TrustDecision", "evaluate_trust", "federated_principal"]

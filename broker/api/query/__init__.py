"""The AWS Query protocol codec for broker's IAM and STS endpoint (driven by botocore's service models)."""

from broker.api.query.codec import DecodedRequest, QueryCodec, service_for
from broker.api.query.model import Operation, lookup

__all__ = ["DecodedRequest", "Operation", "QueryCodec", "lookup", "service_for"]

"""A tiny service whose every request is authorized locally by broker's PDP (``broker.pdp``)."""

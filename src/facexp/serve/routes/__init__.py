"""One router per resource: predictions and the model under /v1, health and metrics, the page."""

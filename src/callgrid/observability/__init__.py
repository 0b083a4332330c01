"""What an operator sees of a running Callgrid: logs (one line per request and per webhook
delivery attempt, text or JSON, secrets redacted), request ids, `/healthz` and `/readyz`,
and Prometheus metrics at `/metrics`."""

"""The local service's AppSync Events endpoint (live progress), by layer: `tls`, `http_port` and `publish`,
`upgrade`, `protocol`, `limits`, assembled by `endpoint.LocalEvents` (its docstring says how)."""

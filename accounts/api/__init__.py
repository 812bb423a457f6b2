"""The management REST API (/api/v1/): customer scope and operator scope (/api/v1/ops/), on DRF."""

"""The benchmark's own tools (bench/): the report arithmetic and the LiteLLM requirement lists."""

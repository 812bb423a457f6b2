"""One package per wire protocol. A protocol's *door* speaks to our customers (parse their request,
render answers, streams and errors in their shape); its *channel* half speaks to upstreams. The
doors meet the relay through one internal form: the Responses request body and Responses answers
(`gateway.wire.schema.ParsedRequest`, Responses response objects and SSE events)."""

"""The Anthropic Messages client door (`POST /v1/messages`, `POST /v1/messages/count_tokens`).

`door.MessagesDoor` implements gateway.protocols.door.Door (request → `request`/`blocks`, JSON and errors →
`render`, streams → `stream`); `headers` reads the key and the `anthropic-version` / `anthropic-beta`
headers; `params.client_param` renames internal error params to the client's fields.
"""

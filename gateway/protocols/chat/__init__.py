"""OpenAI Chat Completions. The door half (`door*.py`) serves `POST /v1/chat/completions` to our
customers: `door.ChatDoor`."""

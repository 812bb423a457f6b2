"""OpenAI Responses: the channel half (the door is the wire form itself)."""

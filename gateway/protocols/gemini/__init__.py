"""Google Gemini `generateContent`: the client door (request.py, render.py, stream.py, door.py)."""

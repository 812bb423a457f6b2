"""Signed receipts (issue 17): every billed answer carries a compact JWS (Ed25519) over what was charged,
verifiable with the published keys. keys.py holds the signing keys, jws.py signs and verifies, claims.py
says what a receipt states, stamp.py puts it in answers and streams, issue.py is the relay's one call."""

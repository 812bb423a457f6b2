"""Streamed output metered against the hold: a stream never delivers more output than its hold pays for.

The hold pays for `output_cap` output tokens (the cap the upstream is told). An upstream that ignores
the cap would otherwise stream on for a hold that ran out long ago, so every translator counts the
output it passes on (each delta counted locally, gateway/wire/tokens.py) and, at the first piece that
would go beyond the cap, sends nothing more: the relay ends the response `incomplete`
(`max_output_tokens`), as when the upstream stops at the cap itself. A real upstream's delta is
usually one token, so counting delta by delta tracks its own count closely; an upstream that honours
the cap is cut early only by our estimate's error, and only when its answer was reaching the cap anyway.
"""

from gateway.wire.tokens import count_tokens


class OutputMeter:
    __slots__ = ("budget", "counted", "spent")

    def __init__(self, budget: int | None) -> None:
        self.budget = budget  # None: unmetered (JSON replies, the simulator's own upstream side)
        self.counted = 0  # tokens passed on so far
        self.spent = False  # a piece was refused: nothing more goes out

    def admit(self, text: str) -> bool:
        """Count `text` if it fits the budget. False (for good) once a piece did not fit."""
        if self.spent:
            return False
        tokens = count_tokens(text)
        if self.budget is not None and self.counted + tokens > self.budget:
            self.spent = True
            return False
        self.counted += tokens
        return True

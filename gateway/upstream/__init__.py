"""What the operator buys: upstream model lists and balances."""

"""The customer portal: server-rendered pages over the account's own data, nothing else."""

"""Key pools: a channel's upstream credentials, how requests pick among them, and what happens when one dies."""

"""The default customer group, as a field default: importable before billing's models are loaded."""


def default_group_id() -> int:
    from .group_selectors import default_group_id as current

    return current()

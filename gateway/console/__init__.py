"""The operator's console pages, forms and read-only selectors."""

"""Rebuild the trained parts of the product from ../shared/data (`make reader`); never imported by
the product itself."""

"""The contract's checks, one module per kind of registered thing; use them through :mod:`segzoo.testing.contract`."""

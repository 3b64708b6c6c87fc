"""segzoo-linknet: a segzoo plugin. The hooks are in :mod:`segzoo_linknet.plugin`."""

__version__ = "0.1.0"

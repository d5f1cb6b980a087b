"""The guest contract as WIT: the host packages, the synthesized ``-obelisk-ext`` packages, component WIT.

Heavy work (running ``wasm-tools``) happens in the submodules; importing this package is cheap.
"""

from obelisk.wit.support import HOST_PACKAGES, host_wit_files, is_host_interface, write_wit_support

__all__ = ["HOST_PACKAGES", "host_wit_files", "is_host_interface", "write_wit_support"]

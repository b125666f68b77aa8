"""edtech-map: see a K-12 district's learning-technology ecosystem whole.

The library behind the ``edtech-map`` command line. The usual start in a script:

Examples
--------
>>> import tempfile
>>> from pathlib import Path
>>> from edtech_map import build_graph, load_ecosystem
>>> from edtech_map.inventory import starter_yaml
>>> path = Path(tempfile.mkdtemp()) / "ecosystem.yaml"
>>> _ = path.write_text(starter_yaml())
>>> G = build_graph(load_ecosystem(path))
>>> sorted(G.nodes)
['example-es', 'lms', 'my-district', 'sis']
"""

from edtech_map.errors import EdtechMapError, InventoryError, Problem
from edtech_map.graph import build_graph
from edtech_map.inventory import load_ecosystem, loads_ecosystem, save_ecosystem
from edtech_map.model import Ecosystem

__all__ = [
    "Ecosystem",
    "EdtechMapError",
    "InventoryError",
    "Problem",
    "__version__",
    "build_graph",
    "load_ecosystem",
    "loads_ecosystem",
    "save_ecosystem",
]

__version__ = "0.1.0"

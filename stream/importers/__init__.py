"""Importers: foreign logs into causalstream MCAP logs, one small class per format.

``csv`` (CSV / Parquet tables -> Features), ``eth-ucy`` (pedestrian text -> AgentStates),
``rosbag`` (ROS 1 / ROS 2 bags -> AgentStates). Add one with ``@register``.

>>> sorted(IMPORTERS)
['csv', 'eth-ucy', 'rosbag']
"""

from causalstream.stream.importers.base import IMPORTERS, ImportResult, Importer, get_importer, register
from causalstream.stream.importers.ethucy import EthUcyImporter
from causalstream.stream.importers.rosbag import RosbagImporter
from causalstream.stream.importers.table import TableImporter

__all__ = [
    "IMPORTERS",
    "EthUcyImporter",
    "ImportResult",
    "Importer",
    "RosbagImporter",
    "TableImporter",
    "get_importer",
    "register",
]

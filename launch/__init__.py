"""The shipped launch files (YAML beside this file), installed as ``causalstream.launch``.

No code lives here: ``causalstream.nodes.launch_catalog`` finds these files by name
(``causalstream launch demo``) and lists them (``causalstream launch --list``).
"""

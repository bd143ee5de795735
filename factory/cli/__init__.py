"""The ``factory`` command: the composition root, the one package that imports every floor."""

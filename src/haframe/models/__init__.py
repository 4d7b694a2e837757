"""Backbones and heads (``model.py``: ``Model``, backbone -> head -> a method's classifier, and
``build_body``), and the torch-free records of the backbones and their pretrained weights
(``records.py``). The package itself imports nothing, so that the records are read without
the training stack."""

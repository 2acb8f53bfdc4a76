"""RNN Recipes: one package per RNN topology, the recurrent cells, and the kit they share.

A recipe is `recipes/<name>/`, loaded by name (`recipes.kit.contract.load_recipe`) so that a stage
imports only its own recipe; what it must provide is written down as code in
`recipes/kit/contract.py` (`Recipe` and `Task`). `recipes/cells/` is the cell registry,
`recipes/kit/` everything the recipes share.
"""

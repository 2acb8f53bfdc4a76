"""RNN Recipes: one module per RNN topology, plus the blocks they share.

A recipe is `recipes/<name>.py`, loaded by name (`recipes.contract.load_recipe`)
so that a stage imports only its own recipe. What a recipe module must provide
is written down as code in `recipes/contract.py` (`Recipe` and `Task`).
"""

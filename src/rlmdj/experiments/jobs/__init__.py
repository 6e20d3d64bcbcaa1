"""One module per ``experiment=`` job: what ``rlmdj experiment=<name>`` runs.

``run`` plays one set (the default); ``screen`` ranks random palettes and ``search_palettes``
searches them with Optuna (``search/``: the search and its report); ``compare`` and
``rescore`` work on runs already in the store; ``replay`` and ``rerun`` play a recorded run again;
``serve`` serves a scorer; ``samples`` lists what a palette can name; ``ears_cell`` is one cell of
the ears test; ``optimize_prompt`` rewrites the RLM DJ's prompt with GEPA (the study is
:mod:`rlmdj.optimize`). Each is registered in :data:`rlmdj.experiments.registry.JOBS`.
"""

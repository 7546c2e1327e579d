"""Test-time training with multimodal reconstruction (TTT-MMR, MMEarth-Bench: Gordon, Belongie, Igel, Lang 2026,
arXiv:2602.06285; official code github.com/lgordon99/mmearth-bench, ``model.py``).

``layout``: which channels of a dataset's stack are the model's input and which are reconstruction targets;
``reconstruction``: the decoders *h*, their losses and the joint checkpoint; ``ttt``: the per-batch adaptation
and its evaluation loop; ``batching``: sequential and geographic test batches; ``evaluate``: ``eval
--ttt-steps``; ``bench``: ``bench --ttt-steps``; ``compare_column``: the ``ttt`` column of ``compare``;
``command``: the options and command bodies the CLI modules attach (click only, so ``--help`` stays instant).
"""

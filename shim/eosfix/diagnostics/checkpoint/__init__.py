"""``eosfix checkpoint``: did a finished fine-tune learn to stop, or were its EOS labels lost in training?

A model trained without EOS labels (transformers' collator with pad == eos) leaves a trace at the end of each
training answer, where the data had its EOS: it gives the EOS a low probability. This command reads that from the
checkpoint and a few training examples with forward passes, adds greedy generations on a few of their prompts, and
gives a verdict. ``data`` reads and renders the examples, ``loading`` loads the checkpoint (a model, an adapter on its
base, a GGUF file), ``measure`` measures, ``verdict`` judges, ``command`` is the command line.
"""

"""``eosfix checkpoint``: did a finished fine-tune learn to stop, or were its EOS labels lost in training?

A model trained without EOS labels (transformers' collator with pad == eos) leaves a trace at the end of each
training answer, where the data had its EOS: it gives the EOS a low probability. This command reads that from the
checkpoint and a few training examples with forward passes, adds greedy generations on a few of their prompts, and
gives a verdict. ``data`` reads and renders the examples, ``models`` loads the checkpoint (a model, an adapter on its
base, a GGUF file), ``measure`` measures, ``verdict`` judges, ``command`` is the command line.
"""


def main(argv=None) -> int:
    """``eosfix checkpoint MODEL --data FILE``; see ``eosfix checkpoint --help``."""
    from eosfix.diagnostics.checkpoint.command import main as command_main

    return command_main(argv)

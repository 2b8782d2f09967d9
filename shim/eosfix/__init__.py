"""eosfix: keep EOS labels when ``pad_token == eos_token``.

transformers' ``DataCollatorForLanguageModeling(tokenizer, mlm=False)`` builds
causal-LM labels by value, ``labels[labels == pad_token_id] = -100``. Most
Llama and Mistral recipes set ``tokenizer.pad_token = tokenizer.eos_token``,
so every real EOS loses its label and the fine-tuned model never learns to
stop. TRL's ``DataCollatorForCompletionOnlyLM`` inherits the bug, and TRL's
``SFTTrainer`` before 0.17 used that collator by default.

eosfix wraps the collator's ``torch_call`` / ``numpy_call`` (and ``tf_call`` on
transformers 4.x) so that labels follow the attention mask, or the examples'
own lengths, instead of the pad id. With ``mlm=True``, or a pad token distinct
from EOS and absent from the text, the output is exactly the stock output.

Use it in one line, before or after importing transformers::

    import eosfix.autopatch  # noqa: F401

or explicitly::

    import eosfix

    eosfix.apply()          # patch now, or when transformers' collator module is imported
    eosfix.is_applied()     # True once the collator carries the patch
    eosfix.revert()         # put the original methods back
    with eosfix.patched():  # applied inside the block only
        ...

``EOSFIX_DISABLE=1`` in the environment turns all of it off. ``eosfix doctor``
reports the installed versions and shows EOS labels before and after.
Problems are logged to the ``eosfix`` logger; library errors pass through
unchanged.
"""

from eosfix._api import apply, is_applied, patched, revert

__version__ = "0.1.0"

__all__ = ["apply", "revert", "is_applied", "patched", "restore_eos_labels", "__version__"]


def __getattr__(name):
    # The label rule is imported on demand, keeping `import eosfix` cheap.
    if name == "restore_eos_labels":
        from eosfix.labels import restore_eos_labels

        return restore_eos_labels
    raise AttributeError(f"module 'eosfix' has no attribute {name!r}")

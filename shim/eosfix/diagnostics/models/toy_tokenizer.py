"""A tokenizer built in memory, for the doctor, the demo and the audit's examples.

Nothing is downloaded: a ``tokenizers`` WordLevel model over a fixed word list,
wrapped in transformers' ``PreTrainedTokenizerFast``, with Llama-style special
tokens ``<s>`` and ``</s>`` and no pad token of its own.
"""

SPECIAL_TOKENS = ("<unk>", "<s>", "</s>")


def make_tokenizer(words, pad_is_eos=True, padding_side="right"):
    """Return a fast tokenizer over ``words`` (split on whitespace).

    With ``pad_is_eos`` the pad token is set to the EOS token, as most
    Llama/Mistral fine-tuning recipes do; otherwise a distinct ``<pad>``.
    """
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab: dict[str, int] = {}
    for token in (*SPECIAL_TOKENS, "<pad>", *words):
        vocab.setdefault(token, len(vocab))
    backend = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="<unk>", bos_token="<s>", eos_token="</s>")
    tokenizer.pad_token = tokenizer.eos_token if pad_is_eos else "<pad>"
    tokenizer.padding_side = padding_side
    return tokenizer

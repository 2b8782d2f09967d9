"""The reproduction in DESCRIPTION.md without network: a WordLevel tokenizer with GPT-2's EOS id (50256)."""

from tokenizers import Tokenizer, models

from transformers import DataCollatorForLanguageModeling, PreTrainedTokenizerFast


vocab = {f"t{i}": i for i in range(50256)} | {"<|endoftext|>": 50256}
backend = Tokenizer(models.WordLevel(vocab, unk_token="t0"))
tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, eos_token="<|endoftext|>")
tokenizer.pad_token = tokenizer.eos_token  # the usual recipe

eos = tokenizer.eos_token_id
examples = [{"input_ids": [15496, 995, eos]}, {"input_ids": [40, eos]}]
collator = DataCollatorForLanguageModeling(tokenizer, mlm=False)
print(collator(examples)["labels"])
print(collator([e["input_ids"] for e in examples])["labels"])

"""The training examples ``eosfix checkpoint`` reads, rendered as training rendered them, with their answer ends.

A source is a JSON-lines file (a ``.json`` file holding one list works too) or a 🤗 ``datasets`` folder written by
``save_to_disk`` (its ``train`` split, or its first). A record is read in one of three forms:

* chat: a list of ``{"role", "content"}`` messages (``messages`` by default), rendered with the tokenizer's chat
  template; each assistant turn is an answer, and its end is the first EOS after it;
* prompt-completion: ``prompt`` and ``completion``, strings or message lists (TRL's two formats);
* text: one string (``text`` by default); every EOS in it after the first token ends an answer.

An answer end is a position that holds the EOS token in the data as training saw it. ``append_eos`` adds one to
text and completions, for a training script that appended it itself.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

CHAT, PROMPT_COMPLETION, TEXT = "chat", "prompt-completion", "text"
# Without a prompt of its own, a text example's prompt is the text before its last quarter (at most this many tokens).
MAX_TEXT_ANSWER = 32


class CheckpointError(Exception):
    """The check cannot run on this input; the message is one line and says what to do."""


@dataclass
class Example:
    """One example as tokens: its ids, the positions of the EOS that ends each answer, its last prompt."""

    ids: list
    ends: list
    prompt: list
    answer_length: int  # tokens of the last answer, its EOS included


def read_records(path: str, limit: int) -> list:
    """Up to ``limit`` records (dicts) from a JSON-lines file, a JSON list or a ``save_to_disk`` folder."""
    if os.path.isdir(path):
        return _read_dataset_folder(path, limit)
    if not os.path.isfile(path):
        raise CheckpointError(
            f"no data at {path!r}: give a JSON-lines file or a datasets folder saved with save_to_disk"
        )
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    try:
        records = json.loads(text) if text.lstrip().startswith("[") else _json_lines(text, limit)
    except json.JSONDecodeError as error:
        raise CheckpointError(f"{path} is not JSON lines ({error}); give one JSON object per line") from None
    records = [record for record in records if isinstance(record, dict)][:limit]
    if not records:
        raise CheckpointError(f"{path} holds no JSON object; give one training example per line")
    return records


def _json_lines(text, limit):
    records = []
    for line in text.splitlines():
        if line.strip():
            records.append(json.loads(line))
        if len(records) >= limit:
            break
    return records


def _read_dataset_folder(path, limit):
    try:
        from datasets import DatasetDict, load_from_disk
    except ImportError:
        raise CheckpointError(f"{path} is a folder; reading a datasets folder needs: pip install datasets") from None
    try:
        dataset = load_from_disk(path)
    except (FileNotFoundError, ValueError) as error:
        raise CheckpointError(f"{path} is not a datasets folder saved with save_to_disk ({error})") from None
    if isinstance(dataset, DatasetDict):
        dataset = dataset["train"] if "train" in dataset else dataset[next(iter(dataset))]
    return [dict(row) for row in dataset.select(range(min(limit, len(dataset))))]


def pick_form(records: list, field: str | None, source: str) -> tuple:
    """``(form, field)``: ``field`` when given, else the first of ``messages``, ``prompt``/``completion``, ``text``."""
    keys = list(records[0])
    if field is not None:
        if field not in records[0]:
            raise CheckpointError(
                f"no field {field!r} in {source} (its fields: {', '.join(keys)}); give --field with one of them"
            )
        return (CHAT if isinstance(records[0][field], list) else TEXT), field
    if "messages" in records[0]:
        return CHAT, "messages"
    if "prompt" in records[0] and "completion" in records[0]:
        return PROMPT_COMPLETION, None
    if "text" in records[0]:
        return TEXT, "text"
    raise CheckpointError(
        f"no 'messages', 'prompt'/'completion' or 'text' field in {source} (its fields: {', '.join(keys)}); "
        "give --field NAME"
    )


class Renderer:
    """Turns records into :class:`Example` s with ``tokenizer``, as training tokenized them."""

    def __init__(self, tokenizer, append_eos: bool = False):
        self.tokenizer = tokenizer
        self.eos = tokenizer.eos_token_id
        self.append_eos = append_eos

    def ids(self, text: str, special: bool = True) -> list:
        return list(self.tokenizer(text, add_special_tokens=special)["input_ids"])

    def chat(self, messages: list, generation_prompt: bool = False) -> str:
        if not getattr(self.tokenizer, "chat_template", None) or not hasattr(self.tokenizer, "apply_chat_template"):
            raise CheckpointError(
                "the data is chat messages but the tokenizer has no chat template; give the tokenizer training used "
                "with --tokenizer (transformers >= 4.34 renders chat templates)"
            )
        return self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=generation_prompt)

    def closed(self, text: str) -> str:
        return text + self.tokenizer.eos_token if self.append_eos else text

    def example(self, record: dict, form: str, field: str | None) -> Example | None:
        if form == CHAT:
            return self.from_messages(list(record[field]))
        if form == PROMPT_COMPLETION and isinstance(record["prompt"], list):
            return self.from_messages([*record["prompt"], *record["completion"]])
        if form == PROMPT_COMPLETION:
            return self.from_prompt(str(record["prompt"]), self.closed(str(record["completion"])))
        return self.from_text(self.closed(str(record[field])))

    def from_prompt(self, prompt: str, completion: str) -> Example | None:
        ids, prompt_ids = self.ids(prompt + completion), self.ids(prompt)
        start = _common_prefix(ids, prompt_ids)
        end = _first(ids, self.eos, max(start, 1))
        if end is None:
            return None
        return Example(ids, [end], ids[:start], end - start + 1)

    def from_text(self, text: str) -> Example | None:
        ids = self.ids(text)
        ends = [position for position, token in enumerate(ids) if token == self.eos and position > 0]
        if not ends:
            return None
        last = ends[-1]
        begin = ends[-2] + 1 if len(ends) > 1 else 0
        answer = max(1, min(MAX_TEXT_ANSWER, (last - begin) // 4))
        return Example(ids, ends, ids[: last - answer], answer + 1)

    def from_messages(self, messages: list) -> Example | None:
        if self.append_eos:
            raise CheckpointError("--append-eos is for text and completions; a chat template closes turns itself")
        ids = self.ids(self.chat(messages), special=False)
        ends: list[int] = []
        prompt: list[int] = []
        length = 0
        for index, message in enumerate(messages):
            if message.get("role") != "assistant":
                continue
            start = _common_prefix(ids, self.ids(self.chat(messages[:index], True), special=False))
            end = _first(ids, self.eos, max(start, 1))
            if end is not None and end not in ends:
                ends.append(end)
                prompt, length = ids[:start], end - start + 1
        return Example(ids, ends, prompt, length) if ends else None


def _common_prefix(a, b):
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


def _first(ids, token, start):
    return next((i for i in range(start, len(ids)) if ids[i] == token), None)


def load_examples(path: str, tokenizer, field: str | None, limit: int, append_eos: bool = False) -> tuple:
    """``(examples, form)``: the records of ``path`` with at least one answer end, as :class:`Example` s.

    Raises :class:`CheckpointError` when none of them holds the EOS token where an answer ends.
    """
    if tokenizer.eos_token_id is None:
        raise CheckpointError("the tokenizer has no EOS token; give the tokenizer training used with --tokenizer")
    records = read_records(path, limit)
    form, field = pick_form(records, field, path)
    renderer = Renderer(tokenizer, append_eos)
    examples = [example for example in (renderer.example(r, form, field) for r in records) if example is not None]
    if not examples:
        hint = "" if form == CHAT else "; if training appended it to each example, add --append-eos"
        raise CheckpointError(
            f"none of the {len(records)} examples of {path} ({form}) holds the EOS token "
            f"{tokenizer.eos_token!r} where an answer ends, so there is nothing to measure{hint}"
        )
    return examples, form

"""The doctor's live probe with the user's own tokenizer and chat template (``eosfix doctor --tokenizer``).

Three two-turn chats are rendered with the tokenizer's chat template and collated, once stock and once with
eosfix, through transformers' ``DataCollatorForLanguageModeling(mlm=False)`` and, where the installed trl has it,
through ``DataCollatorForCompletionOnlyLM`` with the template's assistant header as ``response_template``. For each
collator it counts the tokens that close an assistant turn and how many of them keep their label.
"""

from __future__ import annotations

CHATS = (
    (
        ("user", "What is the capital of France?"),
        ("assistant", "The capital of France is Paris."),
        ("user", "And of Italy?"),
        ("assistant", "Rome."),
    ),
    (("user", "Say hi."), ("assistant", "Hi!"), ("user", "Now count to three."), ("assistant", "One, two, three.")),
    (("user", "2+2?"), ("assistant", "4"), ("user", "Thanks"), ("assistant", "You are welcome.")),
)
_MARK = "XQXQX"


def _messages(turns):
    return [{"role": role, "content": content} for role, content in turns]


def _render(tokenizer, messages, **kwargs):
    return tokenizer.apply_chat_template(messages, tokenize=False, **kwargs)


def turn_format(tokenizer) -> dict:
    """What the chat template puts around an assistant turn: its header, its closing token, the user header."""
    text = _render(tokenizer, [{"role": "user", "content": "hi"}, {"role": "assistant", "content": _MARK}])
    after = text[text.index(_MARK) + len(_MARK) :]
    closing_id = tokenizer(after, add_special_tokens=False)["input_ids"][0]
    closing = tokenizer.convert_ids_to_tokens(closing_id)
    asked = _render(tokenizer, [{"role": "user", "content": "hi"}])
    prompted = _render(tokenizer, [{"role": "user", "content": "hi"}], add_generation_prompt=True)
    response_template = prompted[len(asked) :] if prompted.startswith(asked) else None
    user_text = _render(tokenizer, [{"role": "user", "content": _MARK}])
    user_header = user_text[: user_text.index(_MARK)].rsplit(closing, 1)[-1].lstrip()
    return {
        "closing_token": closing,
        "closing_token_id": closing_id,
        "response_template": response_template or None,
        "instruction_template": user_header or None,
    }


def _examples(tokenizer, closing_id):
    """Tokenized chats and, for each, the positions of the tokens that close its assistant turns."""
    examples, closes = [], []
    for turns in CHATS:
        ids = tokenizer(_render(tokenizer, _messages(turns)), add_special_tokens=False)["input_ids"]
        positions = []
        for end in range(2, len(turns) + 1, 2):
            prefix = tokenizer(_render(tokenizer, _messages(turns[:end])), add_special_tokens=False)["input_ids"]
            if ids[: len(prefix)] != prefix or closing_id not in prefix:
                raise ValueError("the chat template does not render a chat as the prefix of a longer one")
            positions.append(len(prefix) - 1 - prefix[::-1].index(closing_id))
        examples.append({"input_ids": ids, "attention_mask": [1] * len(ids)})
        closes.append(positions)
    return examples, closes


def _count(collator, tokenizer, examples, closes, closing_id):
    from eosfix.diagnostics.audit import count_eos_labels

    batch = collator([dict(example) for example in examples])
    labels, input_ids = (batch[key].tolist() for key in ("labels", "input_ids"))
    eos = count_eos_labels(batch, tokenizer.eos_token_id, tokenizer.pad_token_id, examples, tokenizer.padding_side)
    counts = {"closing": 0, "labelled": 0, "eos": eos["eos_seen"], "eos_labelled": eos["eos_labelled"]}
    for index, (example, positions) in enumerate(zip(examples, closes)):
        width = len(input_ids[index])
        offset = width - len(example["input_ids"]) if tokenizer.padding_side == "left" else 0
        for position in positions:
            counts["closing"] += 1
            counts["labelled"] += labels[index][offset + position] == closing_id
    return counts


def _collators(tokenizer, formats):
    from transformers import DataCollatorForLanguageModeling

    yield "DataCollatorForLanguageModeling", lambda: DataCollatorForLanguageModeling(tokenizer, mlm=False), None
    try:
        from trl import DataCollatorForCompletionOnlyLM
    except ImportError:
        yield "DataCollatorForCompletionOnlyLM", None, "the installed trl has no DataCollatorForCompletionOnlyLM"
        return
    if not formats["response_template"]:
        yield "DataCollatorForCompletionOnlyLM", None, "the chat template has no assistant header"
        return

    def completion_only():
        return DataCollatorForCompletionOnlyLM(
            response_template=formats["response_template"],
            instruction_template=formats["instruction_template"],
            tokenizer=tokenizer,
            mlm=False,
        )

    yield "DataCollatorForCompletionOnlyLM", completion_only, None


def probe_tokenizer(tokenizer) -> dict:
    """Assistant-turn closing tokens that keep their label, per collator, stock and with eosfix."""
    import eosfix

    if not getattr(tokenizer, "chat_template", None):
        return {"chat_template": False, "collators": {}, "reason": "the tokenizer has no chat template"}
    formats = turn_format(tokenizer)
    examples, closes = _examples(tokenizer, formats["closing_token_id"])
    collators = {}
    with eosfix.unpatched():
        for name, make, skipped in _collators(tokenizer, formats):
            if make is None:
                collators[name] = {"skipped": skipped}
                continue
            stock = _count(make(), tokenizer, examples, closes, formats["closing_token_id"])
            with eosfix.patched():
                fixed = _count(make(), tokenizer, examples, closes, formats["closing_token_id"])
            collators[name] = {
                "assistant_turns": stock["closing"],
                "stock_labelled": stock["labelled"],
                "fixed_labelled": fixed["labelled"],
                "real_eos": stock["eos"],
                "real_eos_stock_labelled": stock["eos_labelled"],
                "real_eos_fixed_labelled": fixed["eos_labelled"],
            }
    return {"chat_template": True, **formats, "collators": collators}


def tokenizer_report(source: str) -> dict:
    """``eosfix doctor --tokenizer``: the published special tokens and :func:`probe_tokenizer`, as a dict.

    Raises :class:`eosfix.diagnostics.models.sources.RealModelError` when the source cannot be loaded here.
    """
    from eosfix.diagnostics.models import sources

    tokenizer, notes = sources.load_tokenizer(source)
    kind, location = sources.resolve(source)
    published = sources.gguf_published(location) if kind == "gguf" else None
    pad = published["pad_token"] if published else tokenizer.pad_token
    eos = published["eos_token"] if published else tokenizer.eos_token
    report = {
        "source": source,
        "kind": kind,
        "class": type(tokenizer).__name__,
        "eos_token": eos,
        "pad_token": pad,
        "pad_is_eos_as_published": pad is not None and pad == eos,
        "padding_side": tokenizer.padding_side,
        "notes": notes,
    }
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
        notes.append("no pad token as published; the probe sets pad_token = eos_token as the tutorials do")
    report.update(probe_tokenizer(tokenizer))
    runs = [c for c in report["collators"].values() if "skipped" not in c]
    report["affected"] = any(c["stock_labelled"] < c["assistant_turns"] for c in runs)
    report["fixed"] = bool(runs) and all(c["fixed_labelled"] == c["assistant_turns"] for c in runs)
    return report


def render_lines(report: dict) -> list:
    """The doctor's text lines for :func:`tokenizer_report`."""
    lines = [
        f"  tokenizer {report['source']} ({report['kind']}, {report['class']}, padding {report['padding_side']})",
        f"    pad {report['pad_token']!r}, eos {report['eos_token']!r} as published: "
        f"pad == eos {'yes' if report['pad_is_eos_as_published'] else 'no'}",
    ]
    lines += [f"    note: {note}" for note in report["notes"]]
    if not report["chat_template"]:
        lines.append(f"    {report['reason']}")
        return lines
    lines.append(
        f"    an assistant turn closes with {report['closing_token']!r}"
        f" (the EOS token: {'yes' if report['closing_token'] == report['eos_token'] else 'no'});"
        f" assistant header {report['response_template']!r}"
    )
    lines.append("    three two-turn chats, assistant-closing tokens that keep their label:")
    for name, counts in report["collators"].items():
        if "skipped" in counts:
            lines.append(f"      {name:<32} skipped: {counts['skipped']}")
        else:
            lines.append(
                f"      {name:<32} stock {counts['stock_labelled']}/{counts['assistant_turns']}"
                f"   with eosfix {counts['fixed_labelled']}/{counts['assistant_turns']}"
            )
    return lines

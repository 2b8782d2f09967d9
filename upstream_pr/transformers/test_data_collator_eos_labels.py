# Copyright 2026 The HuggingFace Team. All rights reserved.
#
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#
#     http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS,
# WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
# See the License for the specific language governing permissions and
# limitations under the License.
"""Regression tests for https://github.com/huggingface/transformers/issues/23530.

Written in the style of tests/trainer/test_data_collator.py: the methods of the two classes below can move into
`DataCollatorIntegrationTest` and `NumpyDataCollatorIntegrationTest` there (same `setUp`).
"""

import json
import os
import shutil
import tempfile
import unittest

import numpy as np

from transformers import BertTokenizer, DataCollatorForLanguageModeling, is_torch_available
from transformers.testing_utils import require_torch


if is_torch_available():
    import torch


# The cases of the label rule that concern this collator (eosfix's spec/label_rule.json, kept in step by its tests).
# Ids: [UNK] 0, [CLS] 1, [SEP] 2 (the EOS), [PAD] 3, [MASK] 4, then plain words; "pad" names the pad token.
with open(os.path.join(os.path.dirname(__file__), "eos_label_cases.json"), encoding="utf-8") as cases_file:
    EOS_LABEL_CASES = json.load(cases_file)
PAD_TOKENS = {"eos": "[SEP]", "pad": "[PAD]", "unk": "[UNK]"}


class _EosLabelsTestMixin:
    return_tensors = None

    def setUp(self):
        self.tmpdirname = tempfile.mkdtemp()

        vocab_tokens = ["[UNK]", "[CLS]", "[SEP]", "[PAD]", "[MASK]"] + [f"word{i}" for i in range(13)]
        self.vocab_file = os.path.join(self.tmpdirname, "vocab.txt")
        with open(self.vocab_file, "w", encoding="utf-8") as vocab_writer:
            vocab_writer.write("".join([x + "\n" for x in vocab_tokens]))

    def tearDown(self):
        shutil.rmtree(self.tmpdirname)

    def _tokenizer(self, pad_token, padding_side):
        tokenizer = BertTokenizer(self.vocab_file)
        tokenizer.eos_token = "[SEP]"
        tokenizer.pad_token = pad_token
        tokenizer.padding_side = padding_side
        return tokenizer

    def _labels(self, tokenizer, features):
        data_collator = DataCollatorForLanguageModeling(tokenizer, mlm=False, return_tensors=self.return_tensors)
        return data_collator(features)["labels"].tolist()

    def test_language_modeling_keeps_eos_labels_when_pad_is_eos(self):
        # [SEP] (id 2) is both the EOS and the pad token, as in most causal-LM fine-tuning recipes. Every EOS of the
        # examples, the one in the middle of the second example included, must keep its label; only padding is -100.
        sequences = [[1, 4, 4, 2], [1, 2, 4, 2], [4, 2]]
        expected = {
            "right": [[1, 4, 4, 2], [1, 2, 4, 2], [4, 2, -100, -100]],
            "left": [[1, 4, 4, 2], [1, 2, 4, 2], [-100, -100, 4, 2]],
        }
        for padding_side in ("right", "left"):
            tokenizer = self._tokenizer("[SEP]", padding_side)
            self.assertEqual(tokenizer.pad_token_id, tokenizer.eos_token_id)
            with self.subTest(padding_side=padding_side, features="dicts"):
                features = [{"input_ids": ids} for ids in sequences]
                self.assertEqual(self._labels(tokenizer, features), expected[padding_side])
            with self.subTest(padding_side=padding_side, features="lists"):
                # No attention mask here: the examples' own lengths tell padding apart from EOS.
                self.assertEqual(self._labels(tokenizer, sequences), expected[padding_side])
            with self.subTest(padding_side=padding_side, features="pad_to_multiple_of"):
                data_collator = DataCollatorForLanguageModeling(
                    tokenizer, mlm=False, pad_to_multiple_of=8, return_tensors=self.return_tensors
                )
                labels = data_collator(sequences)["labels"].tolist()
                padding = [[-100] * 4] * 3
                rows = zip(expected[padding_side], padding)
                expected_8 = [row + pad if padding_side == "right" else pad + row for row, pad in rows]
                self.assertEqual(labels, expected_8)

    def test_language_modeling_label_cases(self):
        # Every case: pad == eos keeps the examples' EOS labels, anything else is what the collator always gave.
        for case in EOS_LABEL_CASES:
            if self.return_tensors not in case["return_tensors"]:
                continue
            with self.subTest(case=case["id"]):
                tokenizer = self._tokenizer(PAD_TOKENS[case["pad"]], case["padding_side"])
                if not case["tokenizer_attention_mask"]:
                    tokenizer.model_input_names = [n for n in tokenizer.model_input_names if n != "attention_mask"]
                if case["form"] == "dict+mask":
                    features = [dict(example) for example in case["examples"]]
                elif case["form"] == "dict":
                    features = [{"input_ids": ids} for ids in case["examples"]]
                elif case["form"] == "list":
                    features = [list(ids) for ids in case["examples"]]
                elif self.return_tensors == "pt":
                    features = [torch.tensor(ids) for ids in case["examples"]]
                else:
                    features = [np.array(ids) for ids in case["examples"]]
                data_collator = DataCollatorForLanguageModeling(
                    tokenizer,
                    mlm=False,
                    pad_to_multiple_of=case["pad_to_multiple_of"],
                    return_tensors=self.return_tensors,
                )
                self.assertEqual(data_collator(features)["labels"].tolist(), case["labels"])

    def test_language_modeling_labels_unchanged_when_pad_is_not_eos(self):
        # With a pad token of its own ([PAD], id 3), labels are those the collator always produced.
        for padding_side in ("right", "left"):
            tokenizer = self._tokenizer("[PAD]", padding_side)
            features = [{"input_ids": [1, 4, 4, 2]}, {"input_ids": [4, 2]}]
            expected = [[1, 4, 4, 2], [4, 2, -100, -100] if padding_side == "right" else [-100, -100, 4, 2]]
            with self.subTest(padding_side=padding_side, features="dicts"):
                self.assertEqual(self._labels(tokenizer, features), expected)
            with self.subTest(padding_side=padding_side, features="lists"):
                self.assertEqual(self._labels(tokenizer, [f["input_ids"] for f in features]), expected)
        # Examples padded before collation, without an attention mask: their pad tokens stay masked.
        tokenizer = self._tokenizer("[PAD]", "right")
        features = [{"input_ids": [1, 4, 2, 3, 3]}, {"input_ids": [4, 2]}]
        self.assertEqual(self._labels(tokenizer, features), [[1, 4, 2, -100, -100], [4, 2, -100, -100, -100]])


@require_torch
class DataCollatorForLanguageModelingEosLabelsTest(_EosLabelsTestMixin, unittest.TestCase):
    return_tensors = "pt"

    def test_language_modeling_keeps_eos_labels_with_tensor_features(self):
        tokenizer = self._tokenizer("[SEP]", "right")
        features = [torch.tensor([1, 4, 2]), torch.tensor([2])]
        self.assertEqual(self._labels(tokenizer, features), [[1, 4, 2], [2, -100, -100]])


class NumpyDataCollatorForLanguageModelingEosLabelsTest(_EosLabelsTestMixin, unittest.TestCase):
    return_tensors = "np"

    def test_language_modeling_keeps_eos_labels_with_array_features(self):
        tokenizer = self._tokenizer("[SEP]", "left")
        features = [np.array([1, 4, 2]), np.array([2])]
        self.assertEqual(self._labels(tokenizer, features), [[1, 4, 2], [-100, -100, 2]])

"""The verdict of ``eosfix checkpoint`` and the advice that follows from it.

The thresholds (README, "Does your fine-tuned model stop?"): a model that learned to stop gives the EOS a median
probability of at least one half where its training answers ended, and stops greedily on at least half of the
prompts; a model whose EOS labels were lost gives it a median below 0.1 and stops on fewer than half. Measured
(BENCHMARKS.md, section 5): SmolLM2-135M-Instruct after the demo's 30 steps, median 0.0000 stock vs 0.99 with eosfix;
tiny Llamas after a few dozen steps in the tests, below 0.05 vs above 0.8. Everything between is "unclear".
"""

from __future__ import annotations

LEARNED_MEDIAN = 0.5
LOST_MEDIAN = 0.1
STOP_RATE = 0.5

LEARNED = "learned to stop"
LOST = "did not learn to stop: EOS labels were likely lost in training"
UNCLEAR = "unclear"

ADVICE = {
    LEARNED: "nothing to fix for stopping; keep `import eosfix.autopatch` in the training script for the next run",
    LOST: (
        "retrain with `import eosfix.autopatch` at the top of the training script (or with a pad token that is not "
        "the EOS); `eosfix doctor` checks the environment, `eosfix.audit(trainer)` the labels before training"
    ),
    UNCLEAR: (
        "check that --data is what training saw (--field, --append-eos, the chat template) and give more examples "
        "(--limit); if it is, train longer with `import eosfix.autopatch` and check again"
    ),
}


def judge(median: float, stop_rate: float | None) -> str:
    """One of :data:`LEARNED`, :data:`LOST`, :data:`UNCLEAR`; ``stop_rate`` None when nothing was generated."""
    stops = stop_rate is None or stop_rate >= STOP_RATE
    if median >= LEARNED_MEDIAN and stops:
        return LEARNED
    never = stop_rate is None or stop_rate < STOP_RATE
    if median < LOST_MEDIAN and never:
        return LOST
    return UNCLEAR


def advice(verdict: str, median: float, base_median: float | None) -> str:
    """What to do, with a word on the base model when its figure says more."""
    text = ADVICE[verdict]
    if verdict == LOST and base_median is not None and base_median >= LEARNED_MEDIAN:
        text = f"the base model put the EOS there (median {base_median:.3f}) and fine-tuning unlearned it; " + text
    return text

"""``eosfix demo``: one task learnt twice, stock and with eosfix; only the fixed model learns to stop.

- ``command``: the command line, its report and plot
- ``task``: the quotes the models learn
- ``training``: the training loop, and the stock-then-fixed pair of runs both demos make
- ``evaluation``: greedy answers to held-out quotes, and the judge of a stop
- ``tiny``: the default demo, a tiny random-init Llama with an in-memory tokenizer
- ``pretrained``: ``--model``, a real pretrained model with its own tokenizer
"""

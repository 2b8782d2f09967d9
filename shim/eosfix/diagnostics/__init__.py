"""What checks and shows the fix; none of it runs in a training process unless the program asks for it.

- ``audit``: does each real EOS of the training batches keep its label? (``eosfix.audit``)
- ``trainer_callback``: that audit on the first batch when ``Trainer.train()`` starts (``eosfix.EOSLabelCallback``,
  and the zero-code Trainer audit that ``eosfix.targets.transformers_trainer_audit`` installs)
- ``doctor/``: ``eosfix doctor``, its live probes (a built-in tokenizer, the user's chat template) and its watch
  of upstream releases
- ``demo/``: ``eosfix demo``, its task, training loop and judge, on a tiny model or a real one
- ``models/``: where models and tokenizers come from (GGUF files, folders, the in-memory toy tokenizer)

They use the runtime core (the rule in ``eosfix.labels``, the targets, the patcher and the switch in
``eosfix``) through its public names; the core never imports them. ``import eosfix.autopatch`` loads
nothing from here.
"""

"""What checks and shows the fix; none of it runs in a training process unless the program asks for it.

- ``audit``: does each real EOS of the training batches keep its label? (``eosfix.audit``)
- ``callback``: that audit on the first batch when ``Trainer.train()`` starts (``eosfix.EOSLabelCallback``, and
  the zero-code Trainer audit that ``eosfix.targets.transformers_trainer_audit`` installs)
- ``doctor``, ``chatprobe``, ``upstream``, ``_verified``: ``eosfix doctor``, its live probes and its watch of
  upstream releases
- ``demo``, ``realdemo``, ``quotes``, ``realmodel``, ``offline``: ``eosfix demo``, its data, its models and the
  in-memory tokenizer

They use the runtime core (the rule in ``eosfix.labels``, the targets, the patcher and the switch in
``eosfix``) through its public names; the core never imports them. ``import eosfix.autopatch`` loads
nothing from here.
"""

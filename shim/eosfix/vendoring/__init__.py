"""``eosfix vendor``: the fix written into a vendored copy of transformers or TRL instead of patched at run time.

``vendor`` is the command; ``patches/`` holds the patches and ``manifest.json``, the one statement of which
patch is for which releases. It imports only the standard library and ``packaging``, and nothing else of eosfix.
"""

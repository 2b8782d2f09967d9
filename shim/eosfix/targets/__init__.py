"""The library code eosfix patches, one module per target.

Every target module has the same small contract, read by ``eosfix._patcher``:

``MODULE``
    the module that defines the class, the one the post-import hook waits for;
``CLASS``
    the name of the class in that module whose methods are wrapped (the wrapper
    goes on the class in its MRO that defines each method);
``METHODS``
    a mapping of method name to wrapper ``(wrapped, instance, args, kwargs)``;
    names the installed version lacks are skipped;
``DISTRIBUTION``, ``SUPPORTED``
    the distribution whose ``__version__`` is checked, and the PEP 440
    specifier of the releases the target was written and tested against;
``has_known_shape(function)``
    True when a method outside ``SUPPORTED`` still looks like the one the
    wrapper was written for.
"""

# The module each target patches -> the eosfix module that describes it. The
# post-import hooks need only the keys, so registering them imports nothing.
TARGETS = {
    "transformers.data.data_collator": "eosfix.targets.transformers_collator",
}


def load_target(patched_module):
    """The target module for ``patched_module`` (a key of ``TARGETS``)."""
    import importlib

    return importlib.import_module(TARGETS[patched_module])

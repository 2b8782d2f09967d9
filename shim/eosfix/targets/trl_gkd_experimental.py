"""TRL's ``GKDTrainer`` at ``trl/experimental/gkd/`` (trl 0.26.0 on): see ``trl_gkd``."""

from eosfix.targets.trl_gkd import CLASS, DISTRIBUTION, FIXED_FROM, METHODS, has_known_shape

SUPPORTED = ">=0.26,<1.9"

__all__ = ["CLASS", "DISTRIBUTION", "FIXED_FROM", "METHODS", "SUPPORTED", "has_known_shape"]

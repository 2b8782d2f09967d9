"""TRL's ``GKDTrainer`` at ``trl/experimental/gkd/`` (trl 0.26.0 on): see ``trl_gkd``."""

from eosfix.targets.trl_gkd import CLASS, DISTRIBUTION, FIXED_FROM, METHODS, has_known_shape

MODULE = "trl.experimental.gkd.gkd_trainer"
SUPPORTED = ">=0.26,<1.9"

__all__ = ["CLASS", "DISTRIBUTION", "FIXED_FROM", "METHODS", "MODULE", "SUPPORTED", "has_known_shape"]

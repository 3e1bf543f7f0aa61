"""Diagnose failures: classify what went wrong so the engine knows whether to retry.

``classify(error_info)`` returns a ``Diagnosis`` (kind, confidence, evidence, signature,
source). The rules are data in ``sutura.diagnose.rules``; ``Classifier.default().extend``
adds your own. See ``sutura.diagnose.classify`` for the kinds and how a decision is made.
"""

from sutura.diagnose.classify import Classifier, classify, normalise, signature
from sutura.diagnose.rules import DEFAULT_RULES, Rule

__all__ = ["DEFAULT_RULES", "Classifier", "Rule", "classify", "normalise", "signature"]

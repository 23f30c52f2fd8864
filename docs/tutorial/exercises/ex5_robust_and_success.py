"""Exercise 5 (chapter 5): robust accuracy and attack success rate.

Check: python docs/tutorial/check.py robust_and_success <this file>
"""
import numpy as np


def robust_and_success(y, clean_pred, adv_pred):
    """y, clean_pred, adv_pred : (n,) labels, predictions on x, predictions on x_adv.

    Returns (robust_accuracy, success_rate):
      robust_accuracy: the share of ALL n examples classified correctly both clean AND under
        attack (an attack may move a misclassified example back to its class: that does not
        make it robust);
      success_rate: the share of the examples classified correctly when clean that the attack
        makes wrong (0.0 when there are none).
    """
    raise NotImplementedError

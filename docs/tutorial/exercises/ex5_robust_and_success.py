"""Exercise 5 (chapter 5): robust accuracy and attack success rate.

Check: python docs/tutorial/check.py robust_and_success <this file>
"""
import numpy as np


def robust_and_success(y, clean_pred, adv_pred):
    """y, clean_pred, adv_pred : (n,) labels, predictions on x, predictions on x_adv.

    Returns (robust_accuracy, success_rate):
      robust_accuracy: share of ALL n examples still classified correctly under attack;
      success_rate: share of the examples classified correctly when clean that the attack
        makes wrong (0.0 when there are none).
    """
    raise NotImplementedError

"""Exercise 8 (chapter 8): the big-M constraints of one unstable ReLU.

Check: python docs/tutorial/check.py relu_constraints <this file>
"""
import numpy as np


def relu_feasible(zhat, z, a, l, u):
    """Whether each point (zhat, z, a) satisfies the four linear constraints that encode
    z = max(0, zhat) for an unstable unit, given bounds l <= zhat <= u with l < 0 < u
    (chapter 8, "One ReLU as linear constraints"):

      * z is at least zhat, and at least 0;
      * z is at most zhat when the unit is on (a = 1), and at most 0 when it is off (a = 0);
        each of these two upper bounds is switched off in the other case by a big-M taken
        from the bounds l and u, so that every constraint stays linear in (zhat, z, a).

    zhat, z, a, l, u : float arrays of one shape (n,): a point and its unit's bounds per entry.
      a = 1 means ON, a = 0 OFF. a may also be fractional, in [0, 1]: the same four
      inequalities then describe the LP relaxation the solver starts from, so do not test
      whether a is 0 or 1.
    Returns (n,) booleans: True where all four constraints hold (>= and <=, not strict).
    """
    raise NotImplementedError

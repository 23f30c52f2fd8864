"""White-box, black-box and transfer attacks, hand-coded on the engine, and the
worst-case robustness evaluation that combines them.

Every attack looks the same from outside: ``attack(clf, x, y, eps, ..., rng=None,
batch_size=...)`` takes a ``models.Classifier`` (a network, optionally behind a front
end), images x in [0, 1] of shape (n, 28, 28) and integer labels y, and returns
adversarial images of the same shape and dtype; x is never modified. Large sets are cut
into batches, and every quantity is per example, so results do not depend on the batch
size. ``evaluate`` re-predicts what an attack returns and checks its budget.

    common     checks, projection, margins, losses, ``evaluate``
    linear     the locally linear attacks (Sections 3.5-3.6)
    gradient   FGSM, iterative FGSM, PGD, MI-FGSM
    cw         Carlini-Wagner l2 (Appendix B.3)
    autopgd    APGD with the CE, DLR and margin losses, APGD-T, APGD from unit starts
    square_attack  the Square Attack (gradient-free)
    suite      ``worst_case`` over a suite, transfer, random-sign noise
"""
from .autopgd import APGDRun, apgd, apgd_batch, apgd_targeted, apgd_units, checkpoints, dlr_loss, unit_starts
from .checks import Check, Diagnosis, diagnose
from .common import (check_inputs, check_settings, evaluate, loss_gradient, margin, project, robust,
                     with_gradient)
from .cw import CWDetails, carlini_wagner_l2, carlini_wagner_l2_details
from .gradient import Iterates, fgsm, iterates, iterative_fgsm, mi_fgsm, pgd
from .linear import locally_linear
from .square_attack import square
from .suite import (ATTACKS, Attack, WorstCase, build_suite, default_names, default_suite, make, random_sign, settings_for,
                    transfer, worst_case)

__all__ = ["APGDRun", "apgd", "apgd_batch", "apgd_targeted", "apgd_units", "unit_starts", "checkpoints", "dlr_loss", "Check", "Diagnosis", "diagnose", "check_inputs",
           "check_settings", "evaluate", "loss_gradient", "margin", "project", "robust", "with_gradient", "CWDetails",
           "carlini_wagner_l2", "carlini_wagner_l2_details", "Iterates", "fgsm", "iterates", "iterative_fgsm",
           "mi_fgsm", "pgd", "locally_linear", "square", "ATTACKS", "Attack", "WorstCase", "build_suite",
           "default_names", "default_suite", "make", "random_sign", "settings_for", "transfer", "worst_case"]

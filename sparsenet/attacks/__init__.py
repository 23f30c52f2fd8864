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
    autopgd    APGD with the CE, DLR and margin losses, APGD-T
    square_attack  the Square Attack (gradient-free)
    suite      ``worst_case`` over a suite, transfer, random-sign noise
"""
from .autopgd import apgd, apgd_targeted, checkpoints, dlr_loss
from .common import check_inputs, evaluate, loss_gradient, margin, project, with_gradient
from .cw import carlini_wagner_l2
from .gradient import fgsm, iterative_fgsm, mi_fgsm, pgd
from .linear import locally_linear
from .square_attack import square
from .suite import Attack, WorstCase, build_suite, default_names, default_suite, random_sign, transfer, worst_case

__all__ = ["apgd", "apgd_targeted", "checkpoints", "dlr_loss", "check_inputs", "evaluate", "loss_gradient",
           "margin", "project", "with_gradient", "carlini_wagner_l2", "fgsm", "iterative_fgsm", "mi_fgsm", "pgd",
           "locally_linear", "square", "Attack", "WorstCase", "build_suite", "default_names", "default_suite", "random_sign", "transfer",
           "worst_case"]

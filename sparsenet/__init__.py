"""sparsenet: a NumPy-only reference implementation of
*Toward Robust Neural Networks via Sparsification* (Gopalakrishnan, Marzi, Madhow, Pedarsani).
"""
__version__ = "0.1.0"

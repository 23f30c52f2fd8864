"""Layers with hand-written forward and backward passes.

Every layer is a small class: ``forward(x, train=False)`` computes the output and
keeps exactly what ``backward`` needs; ``backward(grad)`` takes the gradient of any
scalar (a loss, one logit, a logit difference...) with respect to the layer's output
and returns the gradient with respect to its input, filling ``grads`` for the
layer's ``params`` on the way. Images are channels-last: ``(B, H, W, C)``.

ReLU and max-pool are the network's only non-linearities. Both are *switches*
(Section 3.2 of the paper): given the input they select a linear map. They keep
the switch of their last forward pass as a public attribute, ``layer.switch``, so
the locally linear model w_eq(x) can be read off them (see ``linear_model``).
"""
from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


class Layer:
    """Base class: a layer without parameters."""

    params: dict
    grads: dict

    def __init__(self):
        self.params, self.grads = {}, {}

    def forward(self, x, train=False):  # pragma: no cover - interface
        raise NotImplementedError

    def backward(self, grad):  # pragma: no cover - interface
        raise NotImplementedError

    def config(self) -> dict:
        """The constructor arguments that rebuild this layer (for checkpoints)."""
        return {}

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.config().items())
        return f"{type(self).__name__}({args})"


class Conv2D(Layer):
    """2-D convolution (cross-correlation), stride 1, ``'same'`` or ``'valid'`` padding.

    x : (B, H, W, C_in)  ->  y : (B, H', W', C_out),  with
    y[b, h, w, o] = sum_{i, j, c} x_pad[b, h + i, w + j, c] W[i, j, c, o] + bias[o].

    Forward is im2col (a strided view of the padded input copied once into a
    ``(B H' W', k k C_in)`` matrix) followed by one matrix product. Backward turns the
    column gradient back into an image by summing over the k*k kernel offsets, one
    vectorized slice-add per offset (no ``np.add.at`` over pixels).

    Parameters: ``W`` (k, k, C_in, C_out) and ``b`` (C_out,).
    """

    def __init__(self, in_channels, out_channels, kernel_size=5, padding="same",
                 rng=None, dtype=np.float32):
        super().__init__()
        if padding not in ("same", "valid"):
            raise ValueError(f"padding must be 'same' or 'valid', got {padding!r}")
        if padding == "same" and kernel_size % 2 == 0:
            raise ValueError(f"'same' padding needs an odd kernel size, got {kernel_size}")
        self.in_channels, self.out_channels = int(in_channels), int(out_channels)
        self.kernel_size, self.padding = int(kernel_size), padding
        rng = np.random.default_rng(rng)
        fan_in = kernel_size * kernel_size * in_channels
        # He initialisation: keeps activation variance constant through ReLUs.
        W = rng.standard_normal((kernel_size, kernel_size, in_channels, out_channels))
        self.params = {"W": (W * np.sqrt(2.0 / fan_in)).astype(dtype),
                       "b": np.zeros(out_channels, dtype=dtype)}
        self.grads = {k: np.zeros_like(v) for k, v in self.params.items()}
        self.l1 = self.l2 = 0.0  # weight penalties, see losses.weight_penalty

    def config(self):
        return {"in_channels": self.in_channels, "out_channels": self.out_channels,
                "kernel_size": self.kernel_size, "padding": self.padding}

    def _pad(self):
        return self.kernel_size // 2 if self.padding == "same" else 0

    def forward(self, x, train=False):
        if x.ndim != 4 or x.shape[3] != self.in_channels:
            raise ValueError(f"Conv2D expects (B, H, W, {self.in_channels}) input, got shape {x.shape}")
        k, p = self.kernel_size, self._pad()
        if p:
            x = np.pad(x, ((0, 0), (p, p), (p, p), (0, 0)))
        B, Hp, Wp, C = x.shape
        Ho, Wo = Hp - k + 1, Wp - k + 1
        if Ho < 1 or Wo < 1:
            raise ValueError(f"input {Hp - 2 * p}x{Wp - 2 * p} is smaller than the {k}x{k} kernel")
        # (B, Ho, Wo, C, k, k) view -> (B, Ho, Wo, k, k, C) copy: one row per output pixel.
        cols = sliding_window_view(x, (k, k), axis=(1, 2)).transpose(0, 1, 2, 4, 5, 3)
        self.cols = cols.reshape(B * Ho * Wo, k * k * C)
        self.in_shape = (B, Hp, Wp, C)
        W = self.params["W"].reshape(k * k * C, self.out_channels)
        out = self.cols @ W
        out += self.params["b"]
        return out.reshape(B, Ho, Wo, self.out_channels)

    def backward(self, grad, param_grads=True):
        B, Hp, Wp, C = self.in_shape
        k, p, O = self.kernel_size, self._pad(), self.out_channels
        Ho, Wo = Hp - k + 1, Wp - k + 1
        g = grad.reshape(B * Ho * Wo, O)
        W = self.params["W"]
        if param_grads:
            np.matmul(self.cols.T, g, out=self.grads["W"].reshape(k * k * C, O))
            np.sum(g, axis=0, out=self.grads["b"])
        dx = np.zeros(self.in_shape, dtype=grad.dtype)
        if C == 1:
            # One product gives all k*k columns, laid out offset-major: contiguous adds.
            dcols = (W.reshape(k * k, O) @ g.T).reshape(k, k, B, Ho, Wo)
            for i in range(k):
                for j in range(k):
                    dx[:, i:i + Ho, j:j + Wo, 0] += dcols[i, j]
        else:
            # One kernel offset at a time: the (B H' W', C) column block stays in cache,
            # where the full (B H' W', k k C) column matrix would not.
            for i in range(k):
                for j in range(k):
                    dx[:, i:i + Ho, j:j + Wo, :] += (g @ W[i, j].T).reshape(B, Ho, Wo, C)
        return dx[:, p:Hp - p, p:Wp - p, :] if p else dx


class Dense(Layer):
    """Fully connected layer: y = x W + b, x : (B, n_in) -> y : (B, n_out).

    Row i of ``W.T`` is the paper's w_i (Section 3.2 writes neuron i as w_i^T x - b_i;
    we add the bias, so the paper's b_i is our ``-b[i]``).
    """

    def __init__(self, n_in, n_out, rng=None, dtype=np.float32, init="he"):
        super().__init__()
        self.n_in, self.n_out = int(n_in), int(n_out)
        rng = np.random.default_rng(rng)
        # He init for layers feeding a ReLU; Glorot for the output layer.
        scale = np.sqrt(2.0 / n_in) if init == "he" else np.sqrt(2.0 / (n_in + n_out))
        self.params = {"W": (rng.standard_normal((n_in, n_out)) * scale).astype(dtype),
                       "b": np.zeros(n_out, dtype=dtype)}
        self.grads = {k: np.zeros_like(v) for k, v in self.params.items()}
        self.l1 = self.l2 = 0.0  # weight penalties, see losses.weight_penalty

    def config(self):
        return {"n_in": self.n_in, "n_out": self.n_out}

    def forward(self, x, train=False):
        if x.ndim != 2 or x.shape[1] != self.n_in:
            raise ValueError(f"Dense expects (B, {self.n_in}) input, got shape {x.shape}")
        self.x = x
        out = x @ self.params["W"]
        out += self.params["b"]
        return out

    def backward(self, grad, param_grads=True):
        if param_grads:
            np.matmul(self.x.T, grad, out=self.grads["W"])
            np.sum(grad, axis=0, out=self.grads["b"])
        return grad @ self.params["W"].T


class ReLU(Layer):
    """r(y) = max(0, y) = s(y) * y, with the switch s(y) = 1[y > 0] (Section 3.2).

    ``switch`` : bool array shaped like the input of the last forward pass.
    """

    def forward(self, x, train=False):
        self.switch = x > 0
        return np.maximum(x, 0, dtype=x.dtype)

    def backward(self, grad, param_grads=True):
        return grad * self.switch


class MaxPool2D(Layer):
    """2x2 max-pooling with stride 2 on (B, H, W, C), H and W even.

    The pool is a switch between four linear maps (Section 3.2): each output copies
    one of the four inputs of its window. ``switch`` : uint8 (B, H/2, W/2, C) holds
    which one, as ``2 * row + col`` inside the window; ties go to the first.
    Backward routes the gradient through the cached switch, never recomputing an
    arg-max.
    """

    def forward(self, x, train=False):
        if x.ndim != 4 or x.shape[1] % 2 or x.shape[2] % 2:
            raise ValueError(f"MaxPool2D expects (B, H, W, C) with even H and W, got shape {x.shape}")
        B, H, W, C = x.shape
        xr = x.reshape(B, H // 2, 2, W // 2, 2, C)
        a, b = xr[:, :, 0, :, 0], xr[:, :, 0, :, 1]
        c, d = xr[:, :, 1, :, 0], xr[:, :, 1, :, 1]
        top, bottom = np.maximum(a, b), np.maximum(c, d)
        lower = bottom > top
        out = np.where(lower, bottom, top)
        # Strict comparisons make the first of equal candidates win.
        switch = np.where(lower, d > c, b > a).view(np.uint8)
        switch |= lower.view(np.uint8) << 1
        self.switch, self.in_shape = switch, x.shape
        return out

    def backward(self, grad, param_grads=True):
        B, H, W, C = self.in_shape
        dx = np.empty((B, H // 2, 2, W // 2, 2, C), dtype=grad.dtype)
        for k in range(4):
            np.multiply(grad, self.switch == k, out=dx[:, :, k // 2, :, k % 2])
        return dx.reshape(self.in_shape)


class Dropout(Layer):
    """Inverted dropout: while training, zero each unit with probability p and scale
    the rest by 1/(1-p); the identity at evaluation (so w_eq(x) never sees it)."""

    def __init__(self, p=0.5, rng=None):
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"dropout probability must be in [0, 1), got {p}")
        self.p, self.rng = float(p), np.random.default_rng(rng)
        self.mask = None

    def config(self):
        return {"p": self.p}

    def forward(self, x, train=False):
        if not train or self.p == 0.0:
            self.mask = None
            return x
        keep = self.rng.random(x.shape, dtype=np.float32 if x.dtype == np.float32 else np.float64)
        self.mask = (keep >= self.p) * x.dtype.type(1.0 / (1.0 - self.p))
        return x * self.mask

    def backward(self, grad, param_grads=True):
        return grad if self.mask is None else grad * self.mask


class Reshape(Layer):
    """Reshape each example to ``shape`` (the batch axis is kept)."""

    def __init__(self, shape):
        super().__init__()
        self.shape = tuple(int(s) for s in shape)

    def config(self):
        return {"shape": list(self.shape)}

    def forward(self, x, train=False):
        self.in_shape = x.shape
        return x.reshape((x.shape[0],) + self.shape)

    def backward(self, grad, param_grads=True):
        return grad.reshape(self.in_shape)


class Flatten(Reshape):
    """(B, ...) -> (B, prod(...))."""

    def __init__(self):
        super().__init__((-1,))

    def config(self):
        return {}


LAYERS = {cls.__name__: cls for cls in (Conv2D, Dense, ReLU, MaxPool2D, Dropout, Reshape, Flatten)}

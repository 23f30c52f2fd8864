"""Layers with hand-written forward and backward passes.

Every layer is a small class: ``forward(x, train=False)`` computes the output and
keeps exactly what ``backward`` needs; ``backward(grad)`` takes the gradient of any
scalar (a loss, one logit, a logit difference...) with respect to the layer's output
and returns the gradient with respect to its input, filling ``grads`` for the
layer's ``params`` on the way. Images are channels-last: ``(B, H, W, C)``.

The fast layers here are checked against the textbook loops of ``reference.py``
(``conv2d_forward``, ``conv2d_backward``, ``maxpool_forward``, ``maxpool_backward``):
read those first to see what is computed, then these to see how it is made fast.

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


# Images per block of the column matrix, chosen so a block stays near 4 MB: it lives in
# cache between the copy that fills it and the product that reads it, and its buffer is
# reused by every call (a fresh large array costs page faults, which can take longer than
# the matrix product itself; see benchmarks/README.md).
BLOCK_BYTES = 4 * 2 ** 20


class Conv2D(Layer):
    """2-D convolution (cross-correlation), stride 1, ``'same'`` or ``'valid'`` padding.

    x : (B, H, W, C_in)  ->  y : (B, H', W', C_out),  with
    y[b, h, w, o] = sum_{i, j, c} x_pad[b, h + i, w + j, c] W[i, j, c, o] + bias[o].

    Forward is im2col: each output pixel's k x k x C_in input window is copied into one
    row of a column matrix, so one matrix product with W (reshaped to (k k C_in, C_out))
    gives every output. The matrix has a last column of ones and the product a last row
    holding the bias, so the bias costs nothing extra. Backward is the transpose: the
    column gradient g W^T is summed back into the image, one vectorized slice-add per
    kernel offset (no ``np.add.at`` over pixels); dW = cols^T g.

    The batch goes through the column matrix in blocks of max(1, ``BLOCK_BYTES`` // b)
    images, b being the bytes of one image's columns (Ho Wo rows of k k C_in + 1 entries of
    W's dtype), in buffers the layer keeps and reuses. With ``train=True`` the columns of the
    whole batch are kept for dW; otherwise (attacks, evaluation) only one block exists at a
    time and backward never needs it: the input gradient uses W alone.

    Parameters: ``W`` (k, k, C_in, C_out) and ``b`` (C_out,).

    Plain twin: ``reference.conv2d_forward`` and ``reference.conv2d_backward``, the same
    sums as loops over every output.
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
        self._buffers = {}

    def config(self):
        return {"in_channels": self.in_channels, "out_channels": self.out_channels,
                "kernel_size": self.kernel_size, "padding": self.padding}

    def _pad(self):
        return self.kernel_size // 2 if self.padding == "same" else 0

    def forward(self, x, train=False):
        if x.ndim != 4 or x.shape[3] != self.in_channels:
            raise ValueError(f"Conv2D expects (B, H, W, {self.in_channels}) input, got shape {x.shape}")
        k, p, O = self.kernel_size, self._pad(), self.out_channels
        B, H, W, C = x.shape
        Ho, Wo = H + 2 * p - k + 1, W + 2 * p - k + 1
        if Ho < 1 or Wo < 1:
            raise ValueError(f"input {H}x{W} is smaller than the {k}x{k} kernel")
        dtype = np.result_type(x.dtype, self.params["W"].dtype)
        self.x, self.in_shape = x, x.shape
        # (k k C + 1, O): the kernel as a matrix, the bias as its last row.
        Wb = np.concatenate([self.params["W"].reshape(k * k * C, O), self.params["b"][None]]).astype(dtype)
        out = np.empty((B, Ho, Wo, O), dtype)
        block = B if train else self._block()   # train: keep the whole batch's columns for dW
        for s in range(0, B, block):
            cols = self._columns(x[s:s + block], block, "train" if train else "eval")
            np.matmul(cols, Wb, out=out[s:s + block].reshape(-1, O))
        self.cols = cols if train else None
        return out

    def backward(self, grad, param_grads=True, input_grad=True):
        B, H, W, C = self.in_shape
        k, p, O = self.kernel_size, self._pad(), self.out_channels
        Ho, Wo = H + 2 * p - k + 1, W + 2 * p - k + 1
        if grad.shape != (B, Ho, Wo, O):
            raise ValueError(f"Conv2D.backward expects a gradient of shape {(B, Ho, Wo, O)}, got {grad.shape}")
        g = grad.reshape(B, Ho * Wo, O)
        block = self._block()
        if param_grads:   # dW and db at once: [dW; db] = cols^T g
            if self.cols is not None:
                dWb = self.cols.T @ g.reshape(-1, O)
            else:             # an evaluation-mode forward kept no columns: rebuild them block by block
                dWb = sum(self._columns(self.x[s:s + block], block, "eval").T @ g[s:s + block].reshape(-1, O)
                          for s in range(0, B, block))
            self.grads["W"][...] = dWb[:-1].reshape(self.grads["W"].shape)
            self.grads["b"][...] = dWb[-1]
        if not input_grad:
            return None
        W_ = self.params["W"].astype(grad.dtype, copy=False)
        dx = np.empty((B, H, W, C), grad.dtype)
        d_pad = self._buffer("dx_pad", (block, H + 2 * p, W + 2 * p, C), grad.dtype)
        part = self._buffer("dx_part", (block * Ho * Wo, C), grad.dtype)
        for s in range(0, B, block):
            gb = g[s:s + block].reshape(-1, O)
            n = len(gb) // (Ho * Wo)
            d = d_pad[:n]
            d[...] = 0
            if C == 1:
                # All k*k offsets in one product, offset-major: dcols[i, j] = g W[i, j]^T is
                # one contiguous (n, Ho, Wo) image, added where offset (i, j) took its input.
                dcols = (W_.reshape(k * k, O) @ gb.T).reshape(k, k, n, Ho, Wo)
                for i in range(k):
                    for j in range(k):
                        d[:, i:i + Ho, j:j + Wo, 0] += dcols[i, j]
            else:
                # One offset at a time: g W[i, j]^T is a contiguous (n Ho Wo, C) block that
                # stays in cache for its slice-add.
                pb = part[:len(gb)]
                for i in range(k):
                    for j in range(k):
                        np.matmul(gb, W_[i, j].T, out=pb)
                        d[:, i:i + Ho, j:j + Wo, :] += pb.reshape(n, Ho, Wo, C)
            dx[s:s + n] = d[:, p:p + H, p:p + W, :]
        return dx

    # -- im2col and the buffers it reuses -----------------------------------------
    def _columns(self, x, block, buffer):
        """The (n Ho Wo, k k C + 1) column matrix of images x (n, H, W, C), n <= block:
        row (b, h, w) holds x_pad[b, h:h+k, w:w+k, :] flattened in (i, j, c) order, then
        a 1 for the bias. It lives in the layer's buffer ``buffer``, sized for ``block``.

        With one input channel it is stored transposed, offset-major, so that filling it
        is k*k copies of whole shifted images rather than a gather of k-pixel runs (the
        product reads either layout at full speed: BLAS takes the transpose as a flag).
        """
        k, p = self.kernel_size, self._pad()
        n, H, W, C = x.shape
        if p:   # a zero-bordered buffer: only the interior is written, the border stays 0
            xp = self._buffer("x_pad", (block, H + 2 * p, W + 2 * p, C), x.dtype)[:n]
            xp[:, p:p + H, p:p + W, :] = x
            x = xp
        Ho, Wo = x.shape[1] - k + 1, x.shape[2] - k + 1
        if C == 1:
            cols_t = self._buffer(buffer, (k * k + 1, block, Ho, Wo), x.dtype, ones=-1)[:, :n]

            for i in range(k):
                for j in range(k):
                    cols_t[i * k + j] = x[:, i:i + Ho, j:j + Wo, 0]
            return cols_t.reshape(k * k + 1, n * Ho * Wo).T
        cols = self._buffer(buffer, (block * Ho * Wo, k * k * C + 1), x.dtype, ones=(slice(None), -1))
        cols = cols[:n * Ho * Wo]
        windows = sliding_window_view(x, (k, k), axis=(1, 2))         # (n, Ho, Wo, C, k, k), a view
        np.copyto(cols[:, :-1].reshape(n, Ho, Wo, k, k, C), windows.transpose(0, 1, 2, 4, 5, 3))
        return cols

    def _block(self):
        """Images per block: about BLOCK_BYTES of columns."""
        H, W, C = self.in_shape[1:]
        p, k = self._pad(), self.kernel_size
        row_bytes = (H + 2 * p - k + 1) * (W + 2 * p - k + 1) * (k * k * C + 1) * self.params["W"].itemsize
        return max(1, BLOCK_BYTES // row_bytes)

    def _buffer(self, name, shape, dtype, ones=None):
        """A zeroed array of ``shape`` kept between calls (made anew only when the shape
        or dtype changes), with 1 written at index ``ones`` (the bias column or row)."""
        buf = self._buffers.get(name)
        if buf is None or buf.shape != tuple(shape) or buf.dtype != dtype:
            buf = self._buffers[name] = np.zeros(shape, dtype)
            if ones is not None:
                buf[ones] = 1
        return buf


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

    def backward(self, grad, param_grads=True, input_grad=True):
        if param_grads:
            np.matmul(self.x.T, grad, out=self.grads["W"])
            np.sum(grad, axis=0, out=self.grads["b"])
        return grad @ self.params["W"].T if input_grad else None


class ReLU(Layer):
    """r(y) = max(0, y) = s(y) * y, with the switch s(y) = 1[y > 0] (Section 3.2).

    ``switch`` : bool array shaped like the input of the last forward pass (computed
    when first asked for: a forward pass alone never needs it).
    """

    def forward(self, x, train=False):
        self.x, self._switch = x, None
        return np.maximum(x, 0, dtype=x.dtype)

    @property
    def switch(self):
        if self._switch is None:
            self._switch = self.x > 0
        return self._switch

    def backward(self, grad, param_grads=True):
        return grad * self.switch


class MaxPool2D(Layer):
    """2x2 max-pooling with stride 2 on (B, H, W, C), H and W even.

    The pool is a switch between four linear maps (Section 3.2): each output copies
    one of the four inputs of its window. ``switch`` : uint8 (B, H/2, W/2, C) holds
    which one, as ``2 * row + col`` inside the window; ties go to the first. It is
    computed from the stored input when first asked for (by ``backward`` or a user);
    backward routes the gradient through it, never recomputing an arg-max.

    Forward takes the maximum over each row of the window (its two columns), then over
    its two rows: two elementwise maxima of strided views, no copy.

    Plain twin: ``reference.maxpool_forward`` and ``reference.maxpool_backward``, a loop
    over every window.
    """

    def forward(self, x, train=False):
        if x.ndim != 4 or x.shape[1] % 2 or x.shape[2] % 2:
            raise ValueError(f"MaxPool2D expects (B, H, W, C) with even H and W, got shape {x.shape}")
        B, H, W, C = x.shape
        pairs = x.reshape(B, H, W // 2, 2 * C)                  # [..., :C] left column, [..., C:] right
        rows = np.maximum(pairs[..., :C], pairs[..., C:])       # (B, H, W/2, C): each row's max
        self.x, self.rows, self._switch = x, rows, None
        rows = rows.reshape(B, H // 2, 2, W // 2, C)
        return np.maximum(rows[:, :, 0], rows[:, :, 1])        # then the max of the two rows

    @property
    def switch(self):
        if self._switch is None:
            B, H, W, C = self.x.shape
            pairs = self.x.reshape(B, H, W // 2, 2 * C)
            right = (pairs[..., C:] > pairs[..., :C]).reshape(B, H // 2, 2, W // 2, C)  # ties: left
            rows = self.rows.reshape(B, H // 2, 2, W // 2, C)
            lower = rows[:, :, 1] > rows[:, :, 0]                                       # ties: top
            col = (right[:, :, 1] & lower) | (right[:, :, 0] & ~lower)                  # the chosen row's column
            self._switch = (lower.view(np.uint8) << 1) | col.view(np.uint8)
        return self._switch

    def backward(self, grad, param_grads=True):
        B, H, W, C = self.x.shape
        dx = np.empty((B, H // 2, 2, W // 2, 2, C), dtype=grad.dtype)
        switch = self.switch
        for k in range(4):
            np.multiply(grad, switch == k, out=dx[:, :, k // 2, :, k % 2])
        return dx.reshape(B, H, W, C)


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

# The layers of a piecewise-linear network: once ReLU and max-pool have chosen their switches,
# each is linear (Dropout is the identity at evaluation). The locally linear model w_eq(x)
# (``linear_model``) and Theorem 2's bounds (``theory``) hold for networks made of these alone.
PIECEWISE_LINEAR = (Conv2D, Dense, ReLU, MaxPool2D, Dropout, Reshape)     # Flatten is a Reshape

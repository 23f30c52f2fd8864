"""The mutants planted by ``mutate.py``: one plausible bug each, as an exact snippet of a
source file and its replacement, with the pytest selection that should catch it.

Keep each ``original`` unique in its file (the script reports ``n/a`` otherwise) and each
selection short (a few test files; ``-x`` stops at the first failure).
"""


def M(id, file, original, mutated, tests, what, alt=()):
    """One mutant; ``alt``: (original, mutated) pairs for later versions of the same code."""
    return {"id": id, "file": file, "original": original, "mutated": mutated, "tests": list(tests), "what": what,
            "alt": list(alt)}


DATA = ["tests/test_data.py"]
LOSSES = ["tests/test_losses.py", "tests/test_models.py"]
OPTIM = ["tests/test_optim.py", "tests/test_models.py"]
TRAINING = ["tests/test_training.py", "tests/test_models.py"]
MODELS = ["tests/test_models.py"]
CHECKPOINTS = ["tests/test_models.py", "tests/test_cache.py"]
LINEAR = ["tests/test_linear_model.py"]
THEORY = ["tests/test_theory.py"]
EXPERIMENTS = ["tests/test_experiments.py"]
CACHE = ["tests/test_cache.py", "tests/test_experiments.py"]
RUN_ALL = ["tests/test_run_all.py"]
FILES = ["tests/test_files.py", "tests/test_models.py", "tests/test_experiments.py"]
LAYERS = ["tests/test_layers.py", "tests/test_models.py"]
FRONTEND = ["tests/test_frontend.py"]
ATTACKS = ["tests/test_attacks.py"]
REPORT = ["tests/test_experiments.py"]
PLOTS = ["tests/test_plots.py"]

MUTANTS = [
    # -- data ---------------------------------------------------------------------------
    M("data-1", "sparsenet/data.py", "images /= np.float32(255)", "images /= np.float32(256)", DATA,
      "pixels scaled by 1/256 instead of 1/255 (wrong constant)"),
    M("data-2", "sparsenet/data.py", "(labels[keep] == classes[1]).astype", "(labels[keep] == classes[0]).astype",
      DATA, "binary labels swapped: classes[0] becomes 1"),
    M("data-3", "sparsenet/data.py", "val, train = order[:val_size], order[val_size:]",
      "val, train = order[:val_size], order[val_size - 1:]", DATA,
      "train/validation split overlaps by one example (off-by-one)"),
    M("data-4", "sparsenet/data.py", "raw_labels.max() >= NUM_CLASSES", "raw_labels.max() > NUM_CLASSES", DATA,
      "label 10 accepted (>= vs >)"),
    M("data-5", "sparsenet/data.py", "for candidate in (folder / stem, folder / f\"{stem}.gz\"):",
      "for candidate in (folder / f\"{stem}.gz\", folder / stem):", DATA,
      "the .gz file preferred over the uncompressed one (documented: uncompressed first)"),
    M("data-6", "sparsenet/data.py", "if hit is not None and (hit[2] or not verify):", "if hit is not None:", DATA,
      "an unverified cached load satisfies a later verified one"),
    M("data-7", "sparsenet/data.py", "val_size = int(round(val_size * n))", "val_size = int(val_size * n)", DATA,
      "fractional val_size truncated instead of rounded",
      alt=[("val_size = int(round(float(val_size) * n))", "val_size = int(float(val_size) * n)")]),
    M("data-8", "sparsenet/data.py", "\"fashion-mnist\": (0, 2)}", "\"fashion-mnist\": (0, 6)}", DATA,
      "Fashion-MNIST binary task uses class 6 (Shirt) instead of 2 (Pullover)"),

    # -- files --------------------------------------------------------------------------
    M("files-1", "sparsenet/files.py", "            os.unlink(tmp)\n        raise", "            pass\n        raise",
      FILES, "a failed write leaves its temporary file behind"),
    M("files-2", "sparsenet/files.py", "        return obj.item()", "        return float(obj)", FILES,
      "numpy integers written to JSON as floats"),
    M("files-3", "sparsenet/files.py", "np.load(path, allow_pickle=False)", "np.load(path, allow_pickle=True)",
      FILES, "npz files may unpickle objects"),

    # -- losses -------------------------------------------------------------------------
    M("losses-1", "sparsenet/losses.py", "        return float(losses.sum()), grad",
      "        return float(losses.mean()), grad", LOSSES, "reduction='sum' returns the mean loss"),
    M("losses-2", "sparsenet/losses.py", "grad / grad.dtype.type(n)", "grad", LOSSES,
      "reduction='mean' does not divide the gradient by the batch size (dropped term)"),
    M("losses-3", "sparsenet/losses.py", "np.where(labels == 1, -_sigmoid(-y), _sigmoid(y))",
      "np.where(labels == 1, _sigmoid(-y), _sigmoid(y))", LOSSES, "sigmoid gradient for label 1 has the wrong sign"),
    M("losses-4", "sparsenet/losses.py", "g += W.dtype.type(2 * l2) * W", "g += W.dtype.type(l2) * W", LOSSES,
      "l2 penalty gradient missing the factor 2"),
    M("losses-5", "sparsenet/losses.py", "l1 * float(np.abs(W).sum())", "l1 * float(W.sum())", LOSSES,
      "l1 penalty value without the absolute value"),
    M("losses-6", "sparsenet/losses.py", "n_classes = max(logits.shape[1], 2)", "n_classes = logits.shape[1]",
      LOSSES, "one-logit networks reject label 1"),

    # -- optim --------------------------------------------------------------------------
    M("optim-1", "sparsenet/optim.py", "            v -= self.lr * g\n", "            v = -self.lr * g\n", OPTIM,
      "SGD velocity never stored: momentum lost",
      alt=[("            v -= p.dtype.type(self.lr) * g\n", "            v = -p.dtype.type(self.lr) * g\n")]),
    M("optim-2", "sparsenet/optim.py", "self.lr * np.sqrt(1 - b2 ** self.t) / (1 - b1 ** self.t)",
      "self.lr * (1 - b2 ** self.t) / (1 - b1 ** self.t)", OPTIM, "Adam bias correction without the square root"),
    M("optim-3", "sparsenet/optim.py", "(np.sqrt(v) + self.eps)", "np.sqrt(v + self.eps)", OPTIM,
      "Adam's eps inside the square root",
      alt=[("            np.sqrt(v, out=tmp)\n            tmp += c(self.eps)\n",
            "            np.add(v, c(self.eps), out=tmp)\n            np.sqrt(tmp, out=tmp)\n")]),
    M("optim-4", "sparsenet/optim.py", "not 0 <= momentum < 1", "not 0 <= momentum <= 1", OPTIM,
      "SGD accepts momentum = 1 (> vs >=)",
      alt=[("if not (_is_number(value) and 0 <= value < 1):", "if not (_is_number(value) and 0 <= value <= 1):")]),
    M("optim-5", "sparsenet/optim.py", "            m += (1 - b1) * g", "            m += b1 * g", OPTIM,
      "Adam first moment weighted by beta1 instead of 1 - beta1",
      alt=[("np.multiply(g, c(1 - b1), out=tmp)", "np.multiply(g, c(b1), out=tmp)")]),

    # -- training -----------------------------------------------------------------------
    M("training-1", "sparsenet/training.py", "np.array_split(rng.permutation(n), max(1, n // batch_size))",
      "np.array_split(np.arange(n), max(1, n // batch_size))", TRAINING, "no shuffling"),
    M("training-2", "sparsenet/training.py", "        opt.lr *= lr_decay\n", "        opt.lr *= 1.0\n", TRAINING,
      "learning-rate decay ignored"),
    M("training-3", "sparsenet/training.py", "total + loss * len(idx)", "total + loss", TRAINING,
      "epoch loss not weighted by batch size"),
    M("training-4", "sparsenet/training.py", "weighted[i].l1, weighted[i].l2 = float(l1), float(l2)",
      "weighted[i].l1, weighted[i].l2 = float(l2), float(l1)", TRAINING, "set_penalty swaps l1 and l2"),
    M("training-5", "sparsenet/training.py", "max(1, n // batch_size)", "max(1, n // batch_size + 1)", TRAINING,
      "one batch too many per epoch (off-by-one)"),
    M("training-6", "sparsenet/training.py", "            loss += weight_penalty(net.weighted)\n",
      "            weight_penalty(net.weighted)\n", TRAINING, "the penalty is left out of the reported loss"),

    # -- models -------------------------------------------------------------------------
    M("models-1", "sparsenet/models.py", "(logits[:, 0] > 0).astype(np.int64)", "(logits[:, 0] >= 0).astype(np.int64)",
      MODELS, "a zero logit predicts class 1 (> vs >=)"),
    M("models-2", "sparsenet/models.py", "\"dtype\": net.dtype.name}", "\"dtype\": \"float32\"}", MODELS,
      "checkpoints forget a float64 network's dtype"),

    # -- linear_model -------------------------------------------------------------------
    M("linear-1", "sparsenet/linear_model.py", "b_eq = -(s * b1) @ w0 - c0", "b_eq = -(s * b1) @ w0 + c0", LINEAR,
      "closed-form b_eq adds the output bias with the wrong sign"),
    M("linear-2", "sparsenet/linear_model.py", "y[start:start + len(xb)] = logits[::L]",
      "y[start:start + len(xb)] = logits[:len(xb)]", LINEAR, "logits of the wrong copies (stride dropped)"),
    M("linear-3", "sparsenet/linear_model.py", "b_eq - b_eq[rows, t][:, None]", "b_eq[rows, t][:, None] - b_eq", LINEAR,
      "pair difference offsets with swapped operands"),
    M("linear-4", "sparsenet/linear_model.py", "(before[name] != after[name])", "(before[name] == after[name])",
      LINEAR, "switch flips count the unchanged switches"),

    # -- theory -------------------------------------------------------------------------
    M("theory-1", "sparsenet/theory.py", "W.reshape(-1, W.shape[-1]).sum(axis=0).max()",
      "W.reshape(-1, W.shape[-1]).sum(axis=1).max()", THEORY, "gamma from row instead of column l1 norms (axis)"),
    M("theory-2", "sparsenet/theory.py", "eps * np.cumprod(gammas(net))", "eps * np.cumsum(gammas(net))", THEORY,
      "Theorem 2 bound sums the gammas instead of multiplying them"),
    M("theory-3", "sparsenet/theory.py", "/ (2 * Gamma)", "/ Gamma", THEORY,
      "multiclass certified radius without the factor 2"),
    M("theory-4", "sparsenet/theory.py", "np.where(y == 1, logits[:, 0], -logits[:, 0])",
      "np.where(y == 0, logits[:, 0], -logits[:, 0])", THEORY, "binary certified radius uses the wrong class sign"),
    M("theory-5", "sparsenet/theory.py", "b = (delta + C) * l1", "b = (delta - C) * l1", THEORY,
      "Theorem 1 biases below the assumption (wrong sign)"),
    M("theory-6", "sparsenet/theory.py", "p = ((w @ A.T) * support) @ A", "p = ((w @ A) * support) @ A.T", THEORY,
      "Section 3.1 projection with A and A^T swapped"),
    M("theory-7", "sparsenet/theory.py", "np.abs(u - v).reshape(len(u), -1).max(axis=1)",
      "np.abs(u - v).reshape(len(u), -1).mean(axis=1)", THEORY, "measured perturbation is a mean, not the l-inf norm"),

    # -- experiments --------------------------------------------------------------------
    M("experiments-1", "sparsenet/experiments.py", "keep = max(1, int(np.floor(rho * W.size)))",
      "keep = max(1, int(np.ceil(rho * W.size)))", EXPERIMENTS, "prune keeps ceil instead of floor(rho * size)"),
    M("experiments-2", "sparsenet/experiments.py", "mask = (np.abs(W) >= threshold)", "mask = (np.abs(W) > threshold)",
      EXPERIMENTS, "prune drops the threshold weight itself (>= vs >)"),
    M("experiments-3", "sparsenet/experiments.py",
      "threshold = np.partition(np.abs(W).ravel(), W.size - keep)[W.size - keep]\n    mask = (np.abs(W) >= threshold)",
      "threshold = np.partition(W.ravel(), W.size - keep)[W.size - keep]\n    mask = (W >= threshold)",
      EXPERIMENTS, "prune keeps the largest signed weights, not the largest magnitudes"),
    M("experiments-4", "sparsenet/experiments.py", "if not 0 < self.rho <= 1:", "if not 0 < self.rho < 1:",
      EXPERIMENTS, "TrainSpec rejects rho = 1"),
    M("experiments-5", "sparsenet/experiments.py", "set_penalty(net, l1=spec.l1, l2=spec.l2, layers=[0])",
      "set_penalty(net, l1=spec.l1, l2=spec.l2, layers=[1])", EXPERIMENTS,
      "the sparse network's l1 penalty on the wrong layer"),
    M("experiments-6", "sparsenet/experiments.py", "after_step=lambda _: np.multiply(W, mask, out=W)",
      "after_step=None", EXPERIMENTS, "fine-tuning lets pruned weights grow back"),
    M("experiments-7", "sparsenet/experiments.py", "            params.setdefault(\"rng\", spec.seed)\n",
      "            pass\n", EXPERIMENTS, "PGD's random start not seeded by the spec"),

    # -- reproduction -------------------------------------------------------------------
    M("reproduction-1", "sparsenet/reproduction.py", "model, name, EPS, delta=EPS / 20, iterations=s.iterations",
      "model, name, EPS, delta=EPS / 10, iterations=s.iterations", EXPERIMENTS,
      "Table 1 iterative attacks with delta = eps/10 instead of the paper's eps/20"),
    M("reproduction-2", "sparsenet/reproduction.py", "delta=eps / 10 if iterative else None",
      "delta=eps / 20 if iterative else None", EXPERIMENTS, "Figures 5-6 iterative step eps/20 instead of eps/10"),
    M("reproduction-3", "sparsenet/reproduction.py", "EPS = 0.25 ", "EPS = 0.3 ", EXPERIMENTS,
      "the paper's budget 0.25 changed"),

    # -- new code of issue 13: the cache, checkpoints, run_all, format-before-checksum ---
    M("cache-1", "sparsenet/cache.py", "    except ProcessLookupError:\n        return False",
      "    except ProcessLookupError:\n        return True", CACHE, "a dead pid counts as running"),
    M("cache-2", "sparsenet/cache.py", "now - p.stat().st_mtime > max_age", "now - p.stat().st_mtime < max_age", CACHE,
      "temporaries without a pid removed when young instead of old"),
    M("cache-3", "sparsenet/cache.py", "    if log is not None:\n        move_aside(path, reason, log)\n    return None",
      "    return None", CACHE, "a corrupt JSON entry is neither moved aside nor logged"),
    M("cache-4", "sparsenet/cache.py",
      "        value = load(log)\n        if value is not None:\n            return value\n        return compute()",
      "        return compute()", CACHE, "no second look under the lock: two runs compute the same entry"),
    M("cache-5", "sparsenet/cache.py", "return host == socket.gethostname() and not pid_running(pid)",
      "return not pid_running(pid)", CACHE, "a lock written on another machine is broken"),
    M("cache-6", "sparsenet/cache.py", "time.time() - lock.stat().st_mtime > UNREADABLE_LOCK_SECONDS",
      "time.time() - lock.stat().st_mtime < UNREADABLE_LOCK_SECONDS", CACHE,
      "an empty lock file is broken while fresh, kept when old"),
    M("cache-7", "sparsenet/cache.py", "    if not isinstance(obj, dict):\n        kind",
      "    if isinstance(obj, str):\n        kind", CACHE, "a JSON array passes for a cache entry"),
    M("cache-8", "sparsenet/cache.py", "return fields[0] != \"Z\"", "return True", CACHE,
      "a killed run not yet reaped (zombie) counts as running"),
    M("cache-9", "sparsenet/cache.py", "        if _lock_owner(lock) != owner or not _lock_is_stale(lock, owner):\n",
      "        if False:\n", CACHE, "a stale lock is broken without re-checking its owner under the guard"),
    M("models-3", "sparsenet/models.py", "    if start != b\"PK\\x03\\x04\":", "    if False:", CHECKPOINTS,
      "no zip-signature check: a non-npz file reaches np.load"),
    M("models-4", "sparsenet/models.py", "    if dtype.kind != \"f\":", "    if False:", CHECKPOINTS,
      "an integer dtype in the header is accepted"),
    M("models-5", "sparsenet/models.py", "    except CheckpointError as e:\n        raise bad(str(e)) from None",
      "    except CheckpointError:\n        raise", CHECKPOINTS, "a missing parameter's error does not name the file"),
    M("models-6", "sparsenet/models.py", "for k in (\"arch\", \"config\", \"dtype\") if k not in header",
      "for k in (\"arch\", \"dtype\") if k not in header", CHECKPOINTS,
      "a header without config is not caught (KeyError)"),
    M("run_all-1", "run_all.py", "    if value < 0:\n", "    if value < -1:\n", RUN_ALL, "--seed -1 accepted"),
    M("run_all-2", "run_all.py", "    if out.exists() and not out.is_dir():", "    if False:", RUN_ALL,
      "an --out that is a file gets the wrong message"),
    M("run_all-3", "run_all.py", "        why = why.replace(\"data_dir argument\", \"--data-dir\")\n", "", RUN_ALL,
      "the first line speaks of the data_dir argument, not --data-dir"),
    M("run_all-4", "run_all.py", "log(f\"error: {data.command_line_message(e, '--data-dir DIR')}\")",
      "log(f\"error: {e}\")", RUN_ALL, "the not-found advice names data_dir=..., not --data-dir"),
    M("data-9", "sparsenet/data.py", "    if len(raw_images) != len(raw_labels):\n", "    if False:\n", DATA,
      "image/label count mismatch left to the checksum"),
    M("data-10", "sparsenet/data.py", "expected = header + math.prod(dims)",
      "expected = header + int(np.prod(dims, dtype=np.int64))", DATA, "declared size overflows int64"),
    M("data-11", "sparsenet/data.py", "    array = _parse_idx(path, content, magic)   # format first",
      "    _verify(path, content, sha256) if sha256 else None\n    array = _parse_idx(path, content, magic)   # format first",
      DATA, "read_idx checks the checksum before the format"),
    M("files-4", "sparsenet/files.py", "prefix=f\"{TMP_PREFIX}{os.getpid()}-{path.name}-\"",
      "prefix=f\"{TMP_PREFIX}{path.name}-\"", FILES, "temporary names without the writer's pid"),
    M("reproduction-4", "sparsenet/reproduction.py", "if out is None or out.get(\"spec\") == specs and keys <= set(out):",
      "if out is None or isinstance(out, dict):", CACHE, "a theory cache object lacking its results is accepted"),
    M("experiments-8", "sparsenet/experiments.py", "            if \"robust_accuracy\" not in result:\n",
      "            if False:\n", CACHE, "a cached attack result without robust_accuracy is returned"),

    M("conftest-1", "tests/conftest.py", "    return os.environ.get(REQUIRE_ENV, \"\") not in (\"\", \"0\")",
      "    return False", ["tests/test_real_data_report.py"],
      "SPARSENET_REQUIRE_DATA ignored: CI would skip real-data tests silently"),
    M("conftest-2", "tests/conftest.py", "    blocked = [item for item in real if needed_datasets(item) & set(missing)]",
      "    blocked = []", ["tests/test_real_data_report.py"], "the session's first line hides the skipped tests"),

    # -- more of the existing code ----------------------------------------------------
    M("linear-5", "sparsenet/linear_model.py", "W_eq = (s[:, None, :] * w0.T[None]) @ W1.T",
      "W_eq = (w0.T[None] + 0 * s[:, None, :]) @ W1.T", LINEAR, "closed-form w_eq ignores the switches"),
    M("theory-8", "sparsenet/theory.py", "    return eps * np.cumprod(gammas(net))",
      "    return eps * np.cumprod(gammas(net))[::-1]", THEORY, "layer bounds in reverse order"),
    M("training-7", "sparsenet/training.py", "            if after_step is not None:\n                after_step(net)\n",
      "", TRAINING, "the after_step hook is never called"),
    M("losses-7", "sparsenet/losses.py", "    losses = logsum - z[rows, labels]", "    losses = logsum - z[rows, 0]",
      LOSSES, "softmax loss of class 0 instead of the true class"),
    M("experiments-9", "sparsenet/experiments.py", "x_tr, y_tr, x_val, y_val = data.train_val_split(x, y, min(spec.val_size, len(x) // 5), spec.seed)",
      "x_tr, y_tr, x_val, y_val = data.train_val_split(x, y, min(spec.val_size, len(x) // 5), 0)",
      EXPERIMENTS, "the validation split ignores the spec's seed"),

    # -- layers (lead's module: run later) ----------------------------------------------
    M("layers-1", "sparsenet/layers.py", "x.dtype.type(1.0 / (1.0 - self.p))", "x.dtype.type(1.0 / self.p)", LAYERS,
      "dropout scales by 1/p instead of 1/(1-p) (equal at p = 0.5)"),
    M("layers-2", "sparsenet/layers.py", "return grad @ self.params[\"W\"].T", "return grad @ self.params[\"W\"]",
      LAYERS, "Dense backward without the transpose (runs for square W)"),
    M("layers-3", "sparsenet/layers.py", "        return grad.reshape(self.in_shape)\n",
      "        return grad.T.reshape(self.in_shape[::-1]).T\n", LAYERS,
      "Reshape/Flatten backward in the transposed layout (right shape, wrong values)"),
    M("layers-4", "sparsenet/layers.py", "self.switch = x > 0", "self.switch = x >= 0", LAYERS,
      "ReLU switch on at exactly 0 (gradient passes at the kink)",
      alt=[("self._switch = self.x > 0", "self._switch = self.x >= 0")]),
    M("layers-5", "sparsenet/layers.py", "lower = bottom > top", "lower = bottom >= top", LAYERS,
      "max-pool ties go to the bottom row",
      alt=[("lower = rows[:, :, 1] > rows[:, :, 0]", "lower = rows[:, :, 1] >= rows[:, :, 0]")]),
    M("layers-6", "sparsenet/layers.py", "scale = np.sqrt(2.0 / n_in) if init", "scale = np.sqrt(1.0 / n_in) if init",
      LAYERS, "Dense He initialisation with variance 1/n_in"),

    # -- frontend (lead's module: run later) --------------------------------------------
    M("frontend-1", "sparsenet/frontend.py", "int(np.floor(rho * self.N + 1e-9))", "int(np.ceil(rho * self.N - 1e-9))",
      FRONTEND, "K rounded up"),
    M("frontend-2", "sparsenet/frontend.py", "gz = g.reshape(len(g), self.N).astype(r.dtype) * ((r >= 0) & (r <= 1))",
      "gz = g.reshape(len(g), self.N).astype(r.dtype)", FRONTEND, "VJP ignores the clip mask (dropped term)",
      alt=[("        if self.gradient == \"exact\":\n            gz = gz * ((r >= 0) & (r <= 1))\n",
            "        if self.gradient == \"exact\":\n            gz = gz * 1\n")]),
    M("frontend-3", "sparsenet/frontend.py", "[:, self.N - self.K:]", "[:, self.N - self.K - 1:]", FRONTEND,
      "support keeps K + 1 coefficients (off-by-one)"),
    M("frontend-4", "sparsenet/frontend.py", "z = maps.synthesis_t(rows)", "z = maps.analysis(rows)", FRONTEND,
      "VJP uses A instead of S^T (equal only for orthonormal bases)"),
    M("frontend-5", "sparsenet/frontend.py", "            return g.copy()", "            return g", FRONTEND,
      "BPDA returns the caller's array itself"),
    M("frontend-6", "sparsenet/frontend.py", "RANGE_TOL = 1e-6 ", "RANGE_TOL = 1e-3 ", FRONTEND,
      "images up to 1.001 accepted"),

    # -- attacks (lead's package: run later) -------------------------------------------
    M("attacks-1", "sparsenet/attacks/gradient.py",
      "l1 = np.abs(g).reshape(len(g), -1).sum(axis=1).astype(np.float64)",
      "l1 = np.sqrt((g.astype(np.float64) ** 2).reshape(len(g), -1).sum(axis=1))", ATTACKS,
      "MI-FGSM normalises by the l2 instead of the l1 norm"),
    M("attacks-2", "sparsenet/attacks/common.py", "return np.where(y == 1, -logits[:, 0], logits[:, 0])",
      "return np.where(y == 0, -logits[:, 0], logits[:, 0])", ATTACKS, "one-logit margin with the wrong sign"),
    M("attacks-3", "sparsenet/attacks/linear.py", "seen = x1 if front is None else front(x1)", "seen = x1", ATTACKS,
      "white-box locally linear attack takes w_eq at x, not at the front end's output"),
    M("attacks-4", "sparsenet/attacks/common.py", "\"success_rate\": float((~robust[clean]).mean())",
      "\"success_rate\": float((~robust).mean())", ATTACKS, "success rate over all examples, not the correct ones"),
    M("attacks-5", "sparsenet/attacks/gradient.py", "                active[idx[hit]] = False\n",
      "                pass\n", ATTACKS, "stop_on_success does not freeze the fooled examples"),
    M("attacks-6", "sparsenet/attacks/gradient.py", "out[b] = project(x[b] + eps * np.sign(g), x[b], eps)",
      "out[b] = project(x[b] - eps * np.sign(g), x[b], eps)", ATTACKS, "FGSM steps down the loss"),
    M("attacks-7", "sparsenet/attacks/common.py", "linf.max() > eps + tol", "linf.min() > eps + tol", ATTACKS,
      "evaluate's budget check only fails when every example is out of budget"),

    # -- report and plots (lead's modules: run later) -----------------------------------
    M("report-1", "sparsenet/report.py", "100 * float(np.mean(linf > EPS))", "100 * float(np.mean(linf >= EPS))",
      REPORT, "C&W outside_budget counts l-inf = eps as outside"),
    M("report-2", "sparsenet/report.py", "            out[f\"table1/ll/{defense}\"] = min(cands)",
      "            out[f\"table1/ll/{defense}\"] = max(cands)", REPORT, "Table 1 locally linear cell takes the weaker variant"),
    M("plots-1", "sparsenet/plots.py", "if \"fig7/none\" in results and \"fig7/frontend\" in results:",
      "if \"fig7/none\" in results or \"fig7/frontend\" in results:", PLOTS,
      "Figure 7 drawn with half of its results (KeyError)"),
    M("plots-2", "sparsenet/plots.py", "accuracy_vs_eps(results, section, folder / f\"{section}.png\")",
      "accuracy_vs_eps(results, section, folder / \"fig5.png\")", PLOTS, "Figures 5 and 6 written to the same file"),
]

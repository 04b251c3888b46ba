"""Every loss of the paper, as TensorFlow ops (Deshpande et al., CVPR 2017, Sections 3.1 and 4).

Equation numbers, here and throughout the project, are those printed in the CVPR text: the
specificity loss L_mah of Section 3.1 is unnumbered there, then L_hist is (2), L_grad (3), L_dec
(4), the full MDN likelihood (5) and its min-approximation (6); (1) is the VAE's lower bound.

    L_mah  = sum_k ((C - f)^T P_k)^2 / sigma_k^2 + ||C_res - f_res||^2 / sigma_20^2 mahalanobis_loss
    L_hist = sum_p w_p ||C_p - f_p||^2,   w_p = 1 / H_p                             hist_loss
    L_grad = ||grad_h C - grad_h f||^2 + ||grad_v C - grad_v f||^2                   grad_loss
    L_dec  = L_hist + 0.1 L_mah + 1e-3 L_grad                                        decoder_loss
    KL(Q(z|C) || N(0, I)), weighted 1e-2 against L_dec                               kl_loss
    L_mdn  = -log pi_m + ||z - mu_m||^2 / (2 sigma^2),  m = argmin_i ||z - mu_i||     mdn_loss
    Zhang et al.'s rebalanced cross-entropy (the grey feature network's own task)    rebalanced_cross_entropy

Every function returns PER-EXAMPLE values, shape [batch]: the trainer averages them over the
GLOBAL batch with ``tf.nn.compute_average_loss``, so the same code is right on one device and under
``tf.distribute``. Colour fields are in the project's units, ab/128, shape [B, H, W, 2] (H = W = 64
in the paper).

Where the authors' code (their public TensorFlow 1.x implementation) differs from the paper, the
paper is the default:
  * L_hist: the code used the non-squared norm sqrt(sum_p w_p ||C_p - f_p||^2) (offered as
    ``hist_norm="sqrt"``) and raw 1/p weights (the stats module's "raw" weights; "stable" is the
    default).
  * L_grad: the code cropped both differences to the top-left (H-1) x (W-1) pixels and took the
    square root of the sum; only Eq. 3 (every horizontal and vertical difference, squared) is
    implemented.
  * KL: the code ramped its weight linearly over the epochs (offered as ``kl_ramp_epochs``, see
    :func:`kl_weight`).
"""

import math

import tensorflow as tf

from divcolor_tf import color

HIST_NORMS = ("squared", "sqrt")
# Burda et al. 2016: a latent dimension is active when Var_x(E[z_j | x]) > 0.01 (the CVAE's
# ActiveDimensions while training, Table 1's active_dims).
ACTIVE_THRESHOLD = 0.01


def pixel_weights(colour_field, bin_weights):
  """The colourfulness weight w_p of every pixel: the weight of its nearest ab bin (Section 3.1).

  Args:
    colour_field: [B, H, W, 2] ab/128.
    bin_weights: [313] weight of each of Zhang et al.'s ab bins (``color.ab_bins()`` order), e.g.
      1/p ("raw") or the stable weights from ``divcolor_tf.data.stats``.

  Returns:
    [B, H, W] weights, in colour_field's dtype.
  """
  colour_field = tf.convert_to_tensor(colour_field)
  bin_weights = tf.convert_to_tensor(bin_weights, dtype=colour_field.dtype)
  # Bin look-up in float32 (color.nearest_bin's dtype) whatever the loss's own precision.
  bins = color.nearest_bin(tf.cast(colour_field, tf.float32) * color.AB_SCALE)
  return tf.gather(bin_weights, bins)


def hist_loss(target, pred, weights, norm="squared"):
  """L_hist, the colourfulness-weighted squared error (Eq. 2 of the CVPR text).

  The paper writes it as ||(H^-1)^T [C - f(z)]||^2 and describes it as 1/H_p weighting the squared
  difference at pixel p; that description is what is computed:

      squared: sum_p w_p ||C_p - f_p||^2
      sqrt:    sqrt(sum_p w_p ||C_p - f_p||^2)      (the authors' code, per example)

  Args:
    target: [B, H, W, 2] ground-truth colour field C.
    pred: [B, H, W, 2] decoded colour field f(z).
    weights: [B, H, W] per-pixel weights w_p (:func:`pixel_weights`); all ones give
      :func:`l2_loss`.
    norm: "squared" (paper) or "sqrt" (authors' code).

  Returns:
    [B] per-example loss.
  """
  if norm not in HIST_NORMS:
    raise ValueError(f"divcolor_tf/losses.py: hist_norm must be one of {HIST_NORMS}, got {norm!r}")
  target, pred = _same_dtype(target, pred)
  weights = tf.cast(weights, pred.dtype)
  squared_error = tf.reduce_sum(tf.square(target - pred), axis=-1)  # [B, H, W]
  weighted = tf.reduce_sum(weights * squared_error, axis=[1, 2])
  if norm == "sqrt":
    return _safe_sqrt(weighted)
  return weighted


def l2_loss(target, pred):
  """The plain L2 loss ||C - f(z)||^2 per example (Table 1's "L2-Loss" column).

  Args:
    target: [B, H, W, 2] colour field C.
    pred: [B, H, W, 2] decoded colour field f(z).

  Returns:
    [B] sum of squared differences over pixels and both channels.
  """
  target, pred = _same_dtype(target, pred)
  return tf.reduce_sum(tf.square(target - pred), axis=[1, 2, 3])


def flatten_channel_major(colour_field):
  """[B, H, W, 2] -> [B, 2HW] laid out [a.ravel(), b.ravel()], the layout of the PCA's rows.

  The authors fitted their PCA (and the stats module fits ours) on that layout, so a field must
  be flattened the same way before it is projected on the components.
  """
  colour_field = tf.convert_to_tensor(colour_field)
  channels_first = tf.transpose(colour_field, [0, 3, 1, 2])  # [B, 2, H, W]
  return tf.reshape(channels_first, [tf.shape(colour_field)[0], -1])


def mahalanobis_loss(target, pred, components, variances):
  """L_mah, the specificity loss (Section 3.1; unnumbered in the CVPR text).

  With r = C - f(z) flattened as [a.ravel(), b.ravel()] (D = 2HW) and P_k the top-K principal
  components of training colour fields (K = 20 in the paper):

      L_mah = sum_k (r . P_k)^2 / sigma_k^2 + ||r_res||^2 / sigma_K^2,
      r_res = r - sum_k (r . P_k) P_k.

  The paper writes the residual term as ||C_res - f_res||^2 with C_res = C - sum_k (C^T P_k) P_k
  and likewise f_res; projection is linear, so C_res - f_res is exactly r_res above. sigma_k^2 is
  the variance along P_k ("explained variance"), and the residual is divided by the LAST (K-th,
  smallest) variance, as the paper says ("the 20th component") and as the authors' code did. The
  paper divides the projections' differences by "the standard deviation sigma_k" and then squares
  the whole, i.e. divides squared differences by sigma_k^2: that is what is computed.

  The PCA mean does not enter: it cancels in C - f(z).

  Args:
    target: [B, H, W, 2] colour field C.
    pred: [B, H, W, 2] decoded colour field f(z).
    components: [K, D] principal components as orthonormal rows, D = 2HW, channel-major layout
      (the sklearn ``components_`` layout of the authors' files).
    variances: [K] variance along each component, in decreasing order.

  Returns:
    [B] per-example loss.
  """
  target, pred = _same_dtype(target, pred)
  components = tf.convert_to_tensor(components, dtype=pred.dtype)
  variances = tf.convert_to_tensor(variances, dtype=pred.dtype)
  if components.shape.rank != 2 or variances.shape.rank != 1:
    raise ValueError("divcolor_tf/losses.py: mahalanobis_loss needs components [K, D] and "
                     f"variances [K], got {components.shape} and {variances.shape}")
  if components.shape[0] is not None and variances.shape[0] is not None and (
      components.shape[0] != variances.shape[0]):
    raise ValueError(f"divcolor_tf/losses.py: {components.shape[0]} components but "
                     f"{variances.shape[0]} variances")
  field_size = target.shape[1:].num_elements()
  if field_size is not None and components.shape[1] is not None and (
      components.shape[1] != field_size):
    raise ValueError(f"divcolor_tf/losses.py: components have D={components.shape[1]} but the "
                     f"colour field {target.shape[1:]} flattens to D={field_size}")
  along_components, outside = mahalanobis_parts(target, pred, components, variances)
  return along_components + outside


def mahalanobis_parts(target, pred, components, variances):
  """L_mah's two parts, [B] each: (sum_k (r . P_k)^2 / sigma_k^2, ||r_res||^2 / sigma_K^2).

  Their sum is :func:`mahalanobis_loss` (which checks the arguments); the error-budget study
  (docs/quality.md) reports them apart, since the residual part (the colour detail outside the
  top-K components, divided by the smallest variance) is the one that can dominate L_dec.
  """
  target, pred = _same_dtype(target, pred)
  components = tf.convert_to_tensor(components, dtype=pred.dtype)
  variances = tf.convert_to_tensor(variances, dtype=pred.dtype)
  residual = flatten_channel_major(target - pred)  # r, [B, D]
  projections = tf.matmul(residual, components, transpose_b=True)  # r . P_k, [B, K]
  along_components = tf.reduce_sum(tf.square(projections) / variances, axis=-1)
  outside = residual - tf.matmul(projections, components)  # r_res, [B, D]
  return along_components, tf.reduce_sum(tf.square(outside), axis=-1) / variances[-1]


def grad_loss(target, pred):
  """L_grad, the first-order loss (Eq. 3 of the CVPR text).

      ||grad_h C - grad_h f||^2 + ||grad_v C - grad_v f||^2

  with forward differences between horizontally (W - 1 per row) and vertically (H - 1 per column)
  adjacent pixels, both channels. (The authors' code cropped both to the top-left
  (H-1) x (W-1) block and took the square root of the sum; see the module docstring.)

  Args:
    target: [B, H, W, 2] colour field C.
    pred: [B, H, W, 2] decoded colour field f(z).

  Returns:
    [B] per-example loss.
  """
  target, pred = _same_dtype(target, pred)
  # Differences are linear: grad(C) - grad(f) = grad(C - f).
  error = target - pred
  horizontal = error[:, :, 1:, :] - error[:, :, :-1, :]
  vertical = error[:, 1:, :, :] - error[:, :-1, :, :]
  return (tf.reduce_sum(tf.square(horizontal), axis=[1, 2, 3]) +
          tf.reduce_sum(tf.square(vertical), axis=[1, 2, 3]))


def kl_loss(mean, log_variance):
  """KL(N(mean, diag(exp(log_variance))) || N(0, I)), summed over the latent dimensions.

      0.5 * sum_j (mean_j^2 + exp(log_var_j) - log_var_j - 1)

  Args:
    mean: [B, d] the encoder's mean.
    log_variance: [B, d] the encoder's log-variance.

  Returns:
    [B] per-example KL divergence (nats).
  """
  mean, log_variance = _same_dtype(mean, log_variance)
  return 0.5 * tf.reduce_sum(
      tf.square(mean) + tf.exp(log_variance) - log_variance - 1.0, axis=-1)


def decoder_loss(target, pred, *, weights, components, variances, loss_config):
  """L_dec = hist_factor L_hist + mah_factor L_mah + grad_factor L_grad (Eq. 4 of the CVPR text).

  The paper's weights are 1, 0.1 and 1e-3 (``config.base_config().loss``). A term whose factor is
  0 is not computed and is absent from the result, so the L2-only ablation needs no PCA
  (components and variances may be None) and the Mahalanobis-only ablation no bin weights.

  Args:
    target: [B, H, W, 2] colour field C.
    pred: [B, H, W, 2] decoded colour field f(z).
    weights: [313] colourfulness weight per ab bin (looked up per pixel with
      :func:`pixel_weights`), or None for uniform weights (L_hist is then :func:`l2_loss`); only
      used when hist_factor > 0.
    components: [K, 2HW] principal components, or None when mah_factor is 0.
    variances: [K] their variances, or None when mah_factor is 0.
    loss_config: ConfigDict (or dict) with hist_factor, mah_factor, grad_factor, hist_norm.

  Returns:
    dict of [B] tensors: "decoder" (the weighted sum) and each computed term among "hist", "mah",
    "grad" (unweighted).
  """
  target, pred = _same_dtype(target, pred)
  factors = {name: float(loss_config[f"{name}_factor"]) for name in ("hist", "mah", "grad")}
  terms = {}
  if factors["hist"]:
    if weights is None:
      pixel_w = tf.ones(tf.shape(target)[:-1], dtype=pred.dtype)
    else:
      pixel_w = pixel_weights(target, weights)
    terms["hist"] = hist_loss(target, pred, pixel_w, norm=loss_config["hist_norm"])
  if factors["mah"]:
    if components is None or variances is None:
      raise ValueError("divcolor_tf/losses.py: mah_factor > 0 needs the PCA components and "
                       "variances (a stats file), got None")
    terms["mah"] = mahalanobis_loss(target, pred, components, variances)
  if factors["grad"]:
    terms["grad"] = grad_loss(target, pred)
  total = tf.zeros(tf.shape(target)[:1], dtype=pred.dtype)
  for name, value in terms.items():
    total += factors[name] * value
  terms["decoder"] = total
  return terms


def kl_weight(epoch, loss_config):
  """The KL weight for a 0-based epoch: constant kl_factor, or the authors' linear ramp.

  With ``kl_ramp_epochs`` = n > 0 the weight is

      kl_factor * min(epoch / (n - 1), 1)        (n = 1: kl_factor * min(epoch, 1))

  so the first epoch (0) trains without the KL term and epoch n - 1, the last of the ramp's n
  epochs, reaches kl_factor. The authors' code set 1e-2 / 10 * epoch for epochs 0..9, i.e. 0, 1e-3,
  ..., 9e-3: exactly this ramp with kl_factor = 9e-3 and n = 10 (the config's "authors" variant).
  Without a ramp (n = 0) the weight is kl_factor throughout (paper: 1e-2).

  Args:
    epoch: 0-based epoch index, a python number or a scalar tensor.
    loss_config: ConfigDict (or dict) with kl_factor and kl_ramp_epochs.

  Returns:
    A python float for a python epoch, a float32 scalar tensor for a tensor epoch.
  """
  factor = float(loss_config["kl_factor"])
  ramp_epochs = int(loss_config["kl_ramp_epochs"])
  if isinstance(epoch, (tf.Tensor, tf.Variable)):
    if ramp_epochs <= 0:
      return tf.constant(factor, tf.float32)
    progress = tf.cast(epoch, tf.float32) / float(max(ramp_epochs - 1, 1))
    return factor * tf.clip_by_value(progress, 0.0, 1.0)
  if ramp_epochs <= 0:
    return factor
  return factor * min(max(epoch / max(ramp_epochs - 1, 1), 0.0), 1.0)


def nearest_component(z, means):
  """m = argmin_i ||z - mu_i||, the mixture component Eq. 6 optimises for each example.

  Args:
    z: [B, d] target embeddings.
    means: [B, M, d] predicted component means.

  Returns:
    [B] int32 component index.
  """
  z, means = _same_dtype(z, means)
  return tf.argmin(_squared_distances(z, means), axis=-1, output_type=tf.int32)


def mdn_loss(z, means, logits, variance=0.1, return_component=False):
  """L_mdn with the paper's min-approximation (Eq. 6 of the CVPR text), per example.

      m = argmin_i ||z - mu_i||,   L = -log pi_m + ||z - mu_m||^2 / (2 sigma^2)

  pi = softmax(logits); -log pi_m is computed with log_softmax, which stays finite for any logits.
  Only mu_m receives gradient (argmin is piecewise constant), while every logit does through the
  softmax normaliser: each example trains its nearest component's mean and all mixture weights.
  Like the paper (and the authors' code, which divides by 2 * 0.1), the Gaussian's normalising
  constant (d/2) log(2 pi sigma^2) is left out: it does not depend on the network.

  Args:
    z: [B, d] target embeddings (the VAE's code of the true colour field; a constant to the MDN).
    means: [B, M, d] component means mu_i.
    logits: [B, M] unnormalised mixture weights.
    variance: sigma^2, the fixed spherical variance of every component (paper: 0.1).
    return_component: also return m.

  Returns:
    [B] loss, or (loss, m) with m [B] int32 when return_component is True.
  """
  z, means, logits = _check_mixture(z, means, logits)
  squared = _squared_distances(z, means)  # [B, M]
  component = tf.argmin(squared, axis=-1, output_type=tf.int32)
  # Gathering (rather than taking the min) keeps the gradient path explicit: only mu_m is used.
  nearest_squared = tf.gather(squared, component, axis=1, batch_dims=1)
  neg_log_pi = -tf.gather(tf.nn.log_softmax(logits, axis=-1), component, axis=1, batch_dims=1)
  loss = neg_log_pi + nearest_squared / (2.0 * variance)
  if return_component:
    return loss, component
  return loss


def mixture_nll(z, means, logits, variance=0.1):
  """-log sum_i pi_i N(z | mu_i, sigma^2 I), the full mixture likelihood of Eq. 5, per example.

  For evaluation and reference (training uses :func:`mdn_loss`): computed with logsumexp, so it
  does not underflow far from every mean. It includes the Gaussian's normaliser, so
  mixture_nll <= mdn_loss + (d/2) log(2 pi sigma^2).

  Args:
    z: [B, d] embeddings.
    means: [B, M, d] component means.
    logits: [B, M] unnormalised mixture weights.
    variance: sigma^2 of every component.

  Returns:
    [B] negative log-likelihood in nats.
  """
  z, means, logits = _check_mixture(z, means, logits)
  dim = tf.cast(tf.shape(z)[-1], z.dtype)
  log_component = (tf.nn.log_softmax(logits, axis=-1) -
                   _squared_distances(z, means) / (2.0 * variance))
  normaliser = 0.5 * dim * math.log(2.0 * math.pi * variance)
  return normaliser - tf.reduce_logsumexp(log_component, axis=-1)


def _squared_distances(z, means):
  """||z - mu_i||^2 for every component: [B, d], [B, M, d] -> [B, M]."""
  return tf.reduce_sum(tf.square(z[:, None, :] - means), axis=-1)


def _check_mixture(z, means, logits):
  z, means, logits = _same_dtype(z, means, logits)
  if z.shape.rank != 2 or means.shape.rank != 3 or logits.shape.rank != 2:
    raise ValueError("divcolor_tf/losses.py: the MDN loss needs z [B, d], means [B, M, d], "
                     f"logits [B, M]; got {z.shape}, {means.shape}, {logits.shape}")
  if not (means.shape[1:2].is_compatible_with(logits.shape[1:2]) and
          means.shape[2:3].is_compatible_with(z.shape[1:2])):
    raise ValueError("divcolor_tf/losses.py: MDN shapes disagree: z "
                     f"{z.shape}, means {means.shape}, logits {logits.shape}")
  return z, means, logits


def _same_dtype(*tensors):
  """Converts to tensors of the first float tensor's dtype (float32 for python inputs)."""
  tensors = [tf.convert_to_tensor(t) for t in tensors]
  dtype = next((t.dtype for t in tensors if t.dtype.is_floating), tf.float32)
  return [tf.cast(t, dtype) for t in tensors]


def _safe_sqrt(x):
  """sqrt(x) with gradient 0 (not inf, hence NaN) at x = 0, e.g. a perfect reconstruction."""
  positive = x > 0
  return tf.where(positive, tf.sqrt(tf.where(positive, x, tf.ones_like(x))), tf.zeros_like(x))


def rebalanced_cross_entropy(logits, soft_targets, bin_weights):
  """Zhang et al.'s class-rebalanced multinomial cross-entropy (the grey feature network's own task,
  Section 4: its conv1..conv7 give the MDN's input G), one value per example.

  Args:
    logits: [B, H, W, Q] unnormalised bin scores (any float dtype; computed in float32).
    soft_targets: [B, H, W, Q] target distributions over the bins (each pixel sums to 1).
    bin_weights: [Q] rebalancing weight of each bin.

  Returns:
    float32 [B]: per example, the mean over pixels of w[argmax_q Z] * -sum_q Z_q log softmax_q.
  """
  logits = tf.cast(logits, tf.float32)
  soft_targets = tf.cast(soft_targets, tf.float32)
  cross_entropy = tf.nn.softmax_cross_entropy_with_logits(labels=soft_targets, logits=logits)
  weight = tf.gather(tf.cast(bin_weights, tf.float32), tf.argmax(soft_targets, axis=-1))
  return tf.reduce_mean(weight * cross_entropy, axis=[1, 2])

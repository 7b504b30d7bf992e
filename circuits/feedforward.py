"""Stochastic feed-forward rate circuits (JAX).

Single layer
    r = f(M x + b) + sigma(x) * eps, eps ~ N(0, I): independent noise per neuron, so the
    response distribution for an input is factorised (mean-field).
Multi-layer
    h = f(M1 x + b1) + sigma_h * eps_h  (noisy hidden layer, width ``n_hidden``)
    r = M2 h + b2 + sigma(x) * eps       (representation layer, linear in h)
    Noise injected at every layer; the hidden noise reaches r through M2, so the
    response noise is correlated: Cov(r | x) = M2 diag(sigma_h^2) M2^T + diag(sigma(x)^2).
    Keeping the representation linear in the noisy hidden layer keeps r | x Gaussian, so
    its covariance (and hence its entropy) is known exactly.

Responses, rates and noise sds are in the latent units of the task (one representation
neuron per latent). A circuit object holds only hyperparameters (frozen, validated);
trainable parameters are a dict of arrays (a JAX pytree) made by ``init``; noise sds are
stored as logs so that they stay positive under unconstrained optimisation.

Noise site (``noise_site``): ``"neurons"`` (the default, as above), ``"synapses"`` or
``"both"``. Synaptic noise makes every input weight random, W_ij ~ N(M_ij, S_ij^2), drawn
afresh for every trial (response sample), each synapse with its own sd S_ij (Malkin,
O'Donnell, Houghton & Aitchison 2024). Given x the drive of neuron i is then exactly
Gaussian, N(M_i . x, sum_j S_ij^2 x_j^2), independent across neurons (local
reparameterisation, Kingma, Salimans & Welling 2015), so a single-layer linear circuit keeps
a Gaussian response with a known, input-dependent variance: synaptic noise grows with the
input, where neuron noise does not. In a multi-layer circuit both layers' synapses are
noisy (``"synapses"``: the hidden neurons have no noise of their own either): the hidden
rates are Gaussian, h ~ N(m_h, diag(v_h)) with v_h = sum_j S1_hj^2 x_j^2 (+ the hidden
neurons' own variance with ``"both"``), and the readout synapses multiply them, so r | x is
not Gaussian, but its moments are exact:
    E[r | x] = M2 m_h + b2,
    Cov(r | x) = M2 diag(v_h) M2^T + diag(sum_h S2_kh^2 (m_h^2 + v_h)) + diag(sigma^2).
Sampling stays exact: given h, each readout drive is N(M2_k . h, sum_h S2_kh^2 h^2).
Linear activation only (through a nonlinearity the moments have no closed form).

Noise gating (``noise_gating=True``): log sigma_i(x) = log sigma_i + sum_d G_id log(1 + x_d^2),
an input-dependent gain on each neuron's noise (trained G, initialised at 0), which lets
variability rise or fall with input contrast (as the posterior of a Gaussian scale
mixture requires; Orban et al. 2016).

Encoder (``encoder``): ``"linear"`` (the above) or ``"mlp"``, which adds to the
representation neurons' mean a deterministic one-hidden-layer network of the input,
U tanh(W x + a), and, with noise gating, replaces the gate's fixed log(1 + x^2) features with
a second such network, log sigma_i(x) = log sigma_i + [V tanh(G x + g)]_i, each of width
``encoder_width``. In a multi-layer circuit the gate network also sets the hidden neurons'
noise sds, so that the correlated part of Cov(r | x), M2 diag(sigma_h(x)^2) M2^T, changes
with the input (a GSM posterior's covariance changes shape with contrast). The encoders'
units are noiseless, so r | x stays Gaussian and the entropy stays exact. The GSM
posterior's mean is divisive in x and its variance depends on the input's norm, which a
linear drive and a per-input-dimension gate cannot follow (the motivation of issue 18).
U and V start at 0, so an MLP circuit starts as the linear one. Neuron noise only.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp

from circuits._validation import count, positive

__all__ = ["FeedforwardCircuit", "NoiseSite", "ACTIVATIONS", "NOISE_SITES", "ENCODERS", "WEIGHT_DRAWS"]

NOISE_SITES = ("neurons", "synapses", "both")
#: How often noisy synapses are drawn when sampling: afresh for every trial (each input and
#: response sample), or once for the whole call, shared by every input and sample (one draw
#: per training minibatch, the published protocol of Malkin et al. 2024).
WEIGHT_DRAWS = ("trial", "minibatch")
ENCODERS = ("linear", "mlp")


class NoiseSite:
    """Where a circuit's noise is: its ``noise_site`` field, one of ``NOISE_SITES``."""

    def _check_noise_site(self) -> None:
        if self.noise_site not in NOISE_SITES:
            raise ValueError(f"noise_site (--noise-site) must be one of {', '.join(NOISE_SITES)}; "
                             f"got {self.noise_site!r}")

    @property
    def has_synaptic_noise(self) -> bool:
        return self.noise_site != "neurons"

    @property
    def has_neuron_noise(self) -> bool:
        return self.noise_site != "synapses"


ACTIVATIONS = {
    "linear": lambda u: u,
    "relu": jax.nn.relu,
    "softplus": jax.nn.softplus,
    "tanh": jnp.tanh,
}


@dataclass(frozen=True)
class FeedforwardCircuit(NoiseSite):
    """A single- (``n_hidden == 0``) or multi-layer (``n_hidden > 0``) stochastic circuit.

    Parameters
    ----------
    n_input : D, input dimensions.
    n_output : K, representation neurons (one per latent).
    n_hidden : width of the noisy hidden layer; 0 for a single-layer circuit.
    activation : f, one of ``ACTIVATIONS`` (applied to the first layer's drive).
    noise_gating : make the representation neurons' noise sd depend on the input (their own
        noise: ignored with ``noise_site="synapses"``, which has none).
    noise_site : ``"neurons"``, ``"synapses"`` or ``"both"`` (module docstring).
    encoder : ``"linear"`` or ``"mlp"`` (module docstring; neuron noise only).
        encoder_width : hidden units of each MLP (mean, gate).
    """

    n_input: int
    n_output: int
    n_hidden: int = 0
    activation: str = "linear"
    noise_gating: bool = False
    noise_site: str = "neurons"
    encoder: str = "linear"
    encoder_width: int = 16

    def __post_init__(self):
        count("n_input", self.n_input, 1)
        count("n_output", self.n_output, 1)
        count("n_hidden", self.n_hidden, 0)
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {self.activation!r}")
        self._check_noise_site()
        if self.has_synaptic_noise and self.activation != "linear":
            raise ValueError(f"noise_site (--noise-site) {self.noise_site!r} is built for the linear activation "
                             f"only (got {self.activation!r}): through a nonlinearity the response moments have "
                             "no closed form")
        if self.encoder not in ENCODERS:
            raise ValueError(f"encoder (--encoder) must be one of {', '.join(ENCODERS)}; got {self.encoder!r}")
        count("encoder_width (--encoder-width)", self.encoder_width, 1)
        if self.encoder == "mlp" and self.noise_site != "neurons":
            raise ValueError(f"encoder (--encoder) 'mlp' is built for neuron noise only, not noise site "
                             f"{self.noise_site!r}")
        if self.noise_site == "synapses":
            object.__setattr__(self, "noise_gating", False)  # gating acts on the neurons' own noise

    @property
    def architecture(self) -> str:
        return "multi-layer" if self.n_hidden else "single-layer"

    @property
    def has_correlated_noise(self) -> bool:
        return self.n_hidden > 0

    @property
    def has_gaussian_responses(self) -> bool:
        """Whether r | x is exactly Gaussian (not with noisy readout synapses on noisy hidden rates)."""
        return not (self.n_hidden and self.has_synaptic_noise)

    def init(self, key, noise_std: float = 0.5, weight_scale: float = 1.0) -> dict:
        """Random initial parameters: Gaussian weights of variance weight_scale^2 / fan-in;
        each neuron's noise sd ``noise_std`` and each synapse's noise_std / sqrt(fan-in) (so a
        unit input gives a synaptic drive of sd ``noise_std``)."""
        positive("noise_std", noise_std)
        keys = jax.random.split(key, 3)
        first_width = self.n_hidden or self.n_output
        params = {
            "input_weights": weight_scale * jax.random.normal(keys[0], (first_width, self.n_input))
            / jnp.sqrt(self.n_input),
            "input_bias": jnp.zeros(first_width),
        }
        if self.has_neuron_noise:
            params["log_noise_std"] = jnp.full(self.n_output, jnp.log(noise_std))
        if self.has_synaptic_noise:
            params["input_log_weight_std"] = jnp.full((first_width, self.n_input),
                                                      jnp.log(noise_std / jnp.sqrt(self.n_input)))
        if self.n_hidden:
            if self.has_neuron_noise:
                params["hidden_log_noise_std"] = jnp.full(self.n_hidden, jnp.log(noise_std))
            params["readout_weights"] = (weight_scale * jax.random.normal(keys[1], (self.n_output, self.n_hidden))
                                         / jnp.sqrt(self.n_hidden))
            params["readout_bias"] = jnp.zeros(self.n_output)
            if self.has_synaptic_noise:
                params["readout_log_weight_std"] = jnp.full((self.n_output, self.n_hidden),
                                                            jnp.log(noise_std / jnp.sqrt(self.n_hidden)))
        if self.encoder == "mlp":
            mlp_keys = jax.random.split(keys[2], 2)
            heads = ("mean", "gate") if self.noise_gating else ("mean",)
            outputs = {"mean": self.n_output, "gate": self.n_output + self.n_hidden}  # gate: own, then hidden
            for head, head_key in zip(heads, mlp_keys, strict=False):
                params[f"{head}_encoder_weights"] = (jax.random.normal(head_key, (self.encoder_width, self.n_input))
                                                     / jnp.sqrt(self.n_input))
                params[f"{head}_encoder_bias"] = jnp.zeros(self.encoder_width)
                params[f"{head}_encoder_readout"] = jnp.zeros((outputs[head], self.encoder_width))
        elif self.noise_gating:
            params["gate_weights"] = jnp.zeros((self.n_output, self.n_input))
        return params

    # -- deterministic parts -------------------------------------------------------------
    def _first_layer(self, params, x):
        return ACTIVATIONS[self.activation](x @ params["input_weights"].T + params["input_bias"])

    def _encoded_mean(self, params, x):
        """The MLP encoder's contribution to the representation neurons' mean, (n, K) (0 if linear)."""
        return self._encoder(params, x, "mean") if self.encoder == "mlp" else 0.0

    @property
    def _has_gate_network(self) -> bool:
        return self.encoder == "mlp" and self.noise_gating

    def _gate_mlp(self, params, x):
        """The gate network's log-gains: (own (n, K), hidden (n, H)), or None without one."""
        if not self._has_gate_network:
            return None
        gains = self._encoder(params, x, "gate")
        return gains[:, : self.n_output], gains[:, self.n_output:]

    def hidden_noise_std(self, params, x):
        """sd of the hidden neurons' own noise given x, (n, H) (input-gated with an MLP gate)."""
        gains = self._gate_mlp(params, x)
        if gains is None:
            return jnp.broadcast_to(jnp.exp(params["hidden_log_noise_std"]), (x.shape[0], self.n_hidden))
        return jnp.exp(params["hidden_log_noise_std"] + gains[1])

    @staticmethod
    def _encoder(params, x, head):
        """U tanh(W x + a) for one MLP head ("mean": (n, K); "gate": (n, K + H))."""
        hidden = jnp.tanh(x @ params[f"{head}_encoder_weights"].T + params[f"{head}_encoder_bias"])
        return hidden @ params[f"{head}_encoder_readout"].T

    def mean(self, params, x):
        """Mean response E[r | x], (n, K)."""
        first = self._first_layer(params, x)
        if not self.n_hidden:
            return first + self._encoded_mean(params, x)
        return first @ params["readout_weights"].T + params["readout_bias"] + self._encoded_mean(params, x)

    def output_noise_std(self, params, x):
        """sd of the noise added at the representation neurons given x, (n, K): their own noise
        and, in a single-layer circuit with synaptic noise, that of their input synapses,
        sqrt(sum_j S_ij^2 x_j^2). (A multi-layer circuit's readout-synapse noise depends on the
        hidden rates: ``response_covariance``.)"""
        variance = jnp.zeros((x.shape[0], self.n_output))
        if self.has_neuron_noise:
            variance = variance + self._own_noise_std(params, x) ** 2
        if self.has_synaptic_noise and not self.n_hidden:
            variance = variance + x**2 @ self.synapse_noise_std(params)[0].T ** 2
        return jnp.sqrt(variance)

    def hidden_variance(self, params, x):
        """Var(h | x) of each hidden neuron, (n, H): its own noise and that of its input synapses."""
        variance = jnp.zeros((x.shape[0], self.n_hidden))
        if self.has_neuron_noise:
            variance = variance + self.hidden_noise_std(params, x) ** 2
        if self.has_synaptic_noise:
            variance = variance + x**2 @ self.synapse_noise_std(params)[0].T ** 2
        return variance

    def _own_noise_std(self, params, x):
        """sd of the representation neurons' own noise, (n, K)."""
        log_sd = jnp.broadcast_to(params["log_noise_std"], (x.shape[0], self.n_output))
        gains = self._gate_mlp(params, x)
        if gains is not None:
            log_sd = log_sd + gains[0]
        elif self.noise_gating:
            log_sd = log_sd + jnp.log1p(x**2) @ params["gate_weights"].T
        return jnp.exp(log_sd)

    def synapse_noise_std(self, params) -> list:
        """The sd of every noisy synapse, one (post, pre) array per noisy layer ([] without):
        the input synapses, then (multi-layer) the readout synapses."""
        if not self.has_synaptic_noise:
            return []
        layers = [jnp.exp(params["input_log_weight_std"])]
        if self.n_hidden:
            layers.append(jnp.exp(params["readout_log_weight_std"]))
        return layers

    def response_covariance(self, params, x):
        """Exact Cov(r | x), (n, K, K)."""
        own = jax.vmap(jnp.diag)(self.output_noise_std(params, x) ** 2)
        if not self.n_hidden:
            return own
        readout = params["readout_weights"]
        if not (self._has_gate_network or self.has_synaptic_noise):  # input-independent hidden noise
            hidden_var = jnp.exp(2 * params["hidden_log_noise_std"])
            return own + (readout * hidden_var) @ readout.T
        hidden_var = self.hidden_variance(params, x)  # (n, H)
        cov = own + jnp.einsum("kh,nh,lh->nkl", readout, hidden_var, readout)
        if self.has_synaptic_noise:  # independent readout synapses: E[h^2] through their variances
            hidden_square = self._first_layer(params, x) ** 2 + hidden_var
            cov = cov + jax.vmap(jnp.diag)(hidden_square @ self.synapse_noise_std(params)[1].T ** 2)
        return cov

    def noise_sources(self, params, x) -> list:
        """The sd of every independent noise source, each (n, ·): for per-neuron (and
        per-synapse) cost charging. A synapse's sd is the same for every input."""
        sources = [self._own_noise_std(params, x)] if self.has_neuron_noise else []
        sources += [jnp.broadcast_to(std, (x.shape[0], *std.shape)) for std in self.synapse_noise_std(params)]
        if self.n_hidden and self.has_neuron_noise:
            sources.append(self.hidden_noise_std(params, x))
        return sources

    # -- simulation ----------------------------------------------------------------------
    def sample(self, params, x, key, n_samples: int, weight_draws: str = "trial") -> dict:
        """Draw ``n_samples`` noisy responses per input (reparameterised, differentiable).

        ``weight_draws`` (``WEIGHT_DRAWS``): noisy synapses drawn afresh for every trial, or
        once for the whole call (the same weights for every input and sample; the neurons'
        own noise stays per trial). Either way each response is a draw from the circuit's
        response distribution; the second only correlates the draws.

        Returns a dict with ``responses`` (n, n_samples, K) and, for multi-layer circuits,
        ``hidden`` (n, n_samples, n_hidden).
        """
        if weight_draws not in WEIGHT_DRAWS:
            raise ValueError(f"weight_draws must be one of {WEIGHT_DRAWS}, got {weight_draws!r}")
        if weight_draws == "minibatch" and self.has_synaptic_noise:
            return self._sample_with_shared_weights(params, x, key, n_samples)
        key_out, key_hidden = jax.random.split(key)
        n = x.shape[0]
        first = self._first_layer(params, x)[:, None, :]
        out = {}
        if self.n_hidden:
            if self._has_gate_network:
                hidden_sd = self.hidden_noise_std(params, x)[:, None, :]
            elif self.has_synaptic_noise:
                hidden_sd = jnp.sqrt(self.hidden_variance(params, x))[:, None, :]
            else:
                hidden_sd = jnp.exp(params["hidden_log_noise_std"])
            hidden = first + hidden_sd * jax.random.normal(key_hidden, (n, n_samples, self.n_hidden))
            out["hidden"] = hidden
            drive = hidden @ params["readout_weights"].T + params["readout_bias"]
            if self.has_synaptic_noise:  # given h, each readout drive is Gaussian (local reparameterisation)
                readout_sd = jnp.sqrt(hidden**2 @ self.synapse_noise_std(params)[1].T ** 2)
                drive = drive + readout_sd * jax.random.normal(jax.random.fold_in(key_out, 1), drive.shape)
        else:
            drive = first
        if self.encoder == "mlp":
            drive = drive + self._encoded_mean(params, x)[:, None, :]
        noise = jax.random.normal(key_out, (n, n_samples, self.n_output))
        out["responses"] = drive + self.output_noise_std(params, x)[:, None, :] * noise
        return out

    def _sample_with_shared_weights(self, params, x, key, n_samples: int) -> dict:
        """``sample`` with one draw of every noisy synapse for all inputs and samples."""
        key_input, key_readout, key_hidden, key_out = jax.random.split(key, 4)
        n = x.shape[0]
        synapse_sd = self.synapse_noise_std(params)
        weights = params["input_weights"] + synapse_sd[0] * jax.random.normal(key_input, synapse_sd[0].shape)
        first = self._first_layer({**params, "input_weights": weights}, x)[:, None, :]
        out = {}
        if self.n_hidden:
            hidden = first
            if self.has_neuron_noise:
                hidden = hidden + self.hidden_noise_std(params, x)[:, None, :] * jax.random.normal(
                    key_hidden, (n, n_samples, self.n_hidden))
            hidden = jnp.broadcast_to(hidden, (n, n_samples, self.n_hidden))
            out["hidden"] = hidden
            readout = params["readout_weights"] + synapse_sd[1] * jax.random.normal(key_readout, synapse_sd[1].shape)
            drive = hidden @ readout.T + params["readout_bias"]
        else:
            drive = first
        responses = jnp.broadcast_to(drive, (n, n_samples, self.n_output))
        if self.has_neuron_noise:
            responses = responses + self._own_noise_std(params, x)[:, None, :] * jax.random.normal(
                key_out, (n, n_samples, self.n_output))
        out["responses"] = responses
        return out

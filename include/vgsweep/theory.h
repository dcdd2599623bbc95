/* Mean-field theory at initialization (docs/REPORT.md, "Theory"): what a plain feed-forward
 * net's settings predict for the back-propagated signal dloss/dz before training. Shared by
 * `vgsweep report` (beside the measurement) and `vgsweep --dry-run` (before anything trains).
 *
 * With z_l ~ N(b, q_l) the pre-activations of hidden layer l (b = model.bias_init):
 *   q_1     = F * s1^2 * E[x^2]                      (input: clusters, E[x^2] = 1 + sep^2/(2F))
 *   q_{l+1} = n * s^2 * E[phi(z_l)^2]                (n = model.width, s^2 the weight variance)
 *   chi_l   = n * s^2 * E[phi'(z_l)^2]               (E over N(b, q_l), Simpson quadrature)
 * and E[delta_l^2] = chi_l * E[delta_{l+1}^2], so log10(delta_rms_1 / delta_rms_depth) =
 * 1/2 * sum_{l=1}^{depth-1} log10 chi_l. The phase comes from chi at the fixed point q*:
 * ordered (chi* < 1 - tol), critical, chaotic (chi* > 1 + tol); the depth scale xi = -1/ln chi*.
 * Nets with normalization or residual blocks get no prediction (ok = 0, reason says why). */
#ifndef VGSWEEP_THEORY_H
#define VGSWEEP_THEORY_H

#include "vgsweep/settings.h"

typedef struct vg_theory {
    int ok;                 /* 0: no prediction; reason says why */
    const char *reason;     /* static text, "" when ok */
    int n_chi;              /* depth - 1: the hidden-to-hidden steps */
    double log10_ratio;     /* predicted log10(delta_rms hidden 1 / hidden depth); 0 when depth 1 */
    double chi_mean;        /* geometric mean of chi_l over the net (chi* when depth 1) */
    double chi_star;        /* chi at the fixed point of the q recursion */
    double xi;              /* -1/ln chi*: depth scale of the gradient (inf at chi* = 1) */
    const char *phase;      /* "ordered", "critical", "chaotic" */
    double q_first, q_last; /* pre-activation variance of hidden layers 1 and depth */
    /* float32 underflow: log10 of the predicted delta_rms at hidden layer 1 and the number of
     * hidden layers whose delta_rms is predicted below FLT_MIN (1.18e-38) */
    double log10_delta_first;
    int underflow_layers;
} vg_theory;

/* Variance of one weight of a dense layer (fan_in, fan_out) under the run's initializer. */
double vg_theory_weight_var(const vg_run_config *cfg, int fan_in, int fan_out);
/* The prediction for cfg; critical_tol is the half-width of the critical band around chi* = 1
 * (docs/REPORT.md: 0.05). */
void vg_theory_predict(const vg_run_config *cfg, double critical_tol, vg_theory *out);

/* Runs that differ only in settings the theory ignores share a prediction: a cache of them
 * (hash table on the settings read by vg_theory_predict). */
typedef struct vg_theory_cache vg_theory_cache;
vg_theory_cache *vg_theory_cache_new(double critical_tol); /* NULL: out of memory */
/* The prediction for cfg, computed once per distinct theory-relevant settings; NULL when out
 * of memory. The pointer stays valid until the cache is freed. */
const vg_theory *vg_theory_cached(vg_theory_cache *cache, const vg_run_config *cfg);
void vg_theory_cache_free(vg_theory_cache *cache);

#endif

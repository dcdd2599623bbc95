/* The factory from a run's settings to a model (vgsweep/model.h): the one place train maps a
 * vg_run_config to a model's spec, and a spec's kind to the functions that plan, cost and
 * build it. A new kind of net (issue #20's rnn, lstm, gru under model.kind) is one case in
 * each switch of model_factory.c. Internal to src/train. */
#ifndef VGSWEEP_TRAIN_MODEL_FACTORY_H
#define VGSWEEP_TRAIN_MODEL_FACTORY_H

#include "vgsweep/data.h"
#include "vgsweep/model.h"
#include "vgsweep/settings.h"

/* Rows per forward call on the test set: an MLP's (vg_train_eval_chunk gives a model's). */
#define VG_EVAL_CHUNK 256

/* The spec of cfg's model. With ds, the data shapes and target kind are the data set's (what
 * the run trains on); without, the settings' (the plan and the estimates, before any data is
 * made: the two agree, vg_data_prepare checks it). */
void vg_train_model_spec(const vg_run_config *cfg, const vg_dataset *ds, vg_model_spec *spec);
vg_status vg_train_model_plan(const vg_model_spec *spec, vg_model_plan *plan, vg_error *err);
vg_model_cost vg_train_model_cost(const vg_model_spec *spec);
vg_status vg_train_model_create(const vg_model_spec *spec, vg_model_f32 *m, vg_error *err);
/* The recurrent initializer's one value (vg_rnn_init_spec.rec_value) from model.recurrent_init
 * and model.recurrent_gain (which multiplies every one), _std and _limit. */
double vg_train_recurrent_value(const vg_run_config *cfg);
/* Rows per forward call on the test set for a model of spec: VG_EVAL_CHUNK for an MLP, the
 * largest batch (training or probe) for a recurrent net, whose activations are T times an
 * MLP's. */
int vg_train_eval_chunk(const vg_model_spec *spec);
/* How the parameters of cfg's model start. */
vg_init_spec vg_train_init_spec(const vg_run_config *cfg);

#endif

#!/bin/sh
# Mutation testing of depthgraph's core (not part of CI; see docs/testing.md).
# Mutates the functions listed below (engine kind/cycle/batch logic, the blocks' numeric helpers,
# image and model preprocessing), runs the tests of setup.cfg's [mutmut] selection against each
# mutant, and prints the survivors. About 20 minutes on 2 busy cores; results stay in mutants/.
# Usage, from the repository root:  sh tools/mutation_core.sh   (extra args go to `mutmut run`)
set -e
MUTMUT="${MUTMUT:-.venv/bin/mutmut}"
nice -n 10 "$MUTMUT" run --max-children "${MUTMUT_CHILDREN:-2}" "$@" \
  'depthgraph.engine.kinds.x_kinds_match*' \
  'depthgraph.engine.compiler.x__source_kinds*' \
  'depthgraph.engine.compiler.x__step_output_kinds*' \
  'depthgraph.engine.compiler.x_check_cycles*' \
  'depthgraph.engine.compiler.x_batch_levels*' \
  'depthgraph.engine.compiler.x__batch_level_kind_outputs*' \
  'depthgraph.engine.executor.x__is_batch*' \
  'depthgraph.engine.executor.x__needed_columns*' \
  'depthgraph.engine.executor.x__assemble*' \
  'depthgraph.engine.executor.x__binding_value*' \
  'depthgraph.engine.executor.x__check_batch_result*' \
  'depthgraph.engine.serialization.x__array_to_json*' \
  'depthgraph.engine.serialization.x__array_out*' \
  'depthgraph.engine.serialization.x__is_probably_base64*' \
  'depthgraph.geometry.*' \
  'depthgraph.blocks.depth_utils.x_normalize_depth*' \
  'depthgraph.blocks.depth_utils.x__scaled_for_display*' \
  'depthgraph.blocks.detections_depth.x_central_box_region*' \
  'depthgraph.blocks.detections_depth.x_detection_depth_stats*' \
  'depthgraph.blocks.point_cloud.x_edge_mask*' \
  'depthgraph.blocks.point_cloud.x_unproject*' \
  'depthgraph.models.depth_anything_v3.preprocess.x_nearest_multiple*' \
  'depthgraph.models.depth_anything_v3.preprocess.x_processed_size*' \
  'depthgraph.models.depth_anything_v3.preprocess.x_resize_for_network*' \
  'depthgraph.image_decoding.x__to_uint8*'
"$MUTMUT" results

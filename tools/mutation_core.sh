#!/bin/sh
# Mutation testing of depthgraph's core (not part of CI; see docs/testing.md).
# Mutates the functions listed below (engine kind/cycle/batch logic, every block module, the
# writers and encoders, image and model preprocessing), runs the tests of setup.cfg's [mutmut]
# selection that cover each mutant, and prints the survivors. Results stay in mutants/.
# Usage, from the repository root:  sh tools/mutation_core.sh   (extra args go to `mutmut run`)
#   MUTATE='depthgraph.engine.encoders.* depthgraph.output_writer.*' sh tools/mutation_core.sh
#   mutates only the functions MUTATE names (space-separated mutmut names or patterns)
set -e
MUTMUT="${MUTMUT:-.venv/bin/mutmut}"
if [ -n "${MUTATE:-}" ]; then
  set -f  # the patterns are mutmut's, not the shell's
  # shellcheck disable=SC2086
  set -- "$@" $MUTATE
  set +f
  nice -n 10 "$MUTMUT" run --max-children "${MUTMUT_CHILDREN:-2}" "$@"
  "$MUTMUT" results
  exit 0
fi
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
  'depthgraph.image_decoding.x__to_uint8*' \
  'depthgraph.engine.encoders.*' \
  'depthgraph.blocks.*' \
  'depthgraph.output_writer.*' \
  'depthgraph.batch.folders.*' \
  'depthgraph.video.sinks.*' \
  'depthgraph.ply.*' \
  'depthgraph.output_root.*' \
  'depthgraph.scene_export.*'
"$MUTMUT" results

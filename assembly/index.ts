// The convsv SIMD core: re-exports only. Build: `npm run build:wasm`.
export { bdsqr_values_f64, sort_desc_f64 } from "./bdsqr";
export { bidiag_c32_split, bidiag_c64_split, bidiag_work_bytes } from "./bidiag";
export { bdsqr_vectors_f64, clip_column_c64, clip_column_f64, clip_column_work_bytes, svd_c64_split, svd_work_bytes } from "./svd";
export { fft_c64_batch, fft_plan_bytes, fft_plan_init } from "./fft";
export {
  build_p_f64,
  build_p_tap_f64,
  fft_cost,
  lead_dim,
  lead_dim32,
  svd_column_f32,
  svd_column_f64,
  svd_column_work_bytes,
  tap_major_f64,
  transform_w_f64,
  transform_w_work_bytes,
  use_fft,
} from "./column";

/** First free byte above the module's static data: the JS side owns memory from here up. */
export function heap_base(): usize {
  return __heap_base;
}
export { sort_twice_desc_f64, sort_twice_work_bytes } from "./sort";
export { dqds_values_f64, dqds_work_bytes } from "./dqds";
export { conv_adjoint_f64_cdhw, conv_f64_cdhw, conv_work_bytes_f64 } from "./conv";
export {
  diag_clip_f64,
  diag_corr_bytes,
  diag_norm_f64,
  diag_values_bytes,
  diag_values_f64,
  diag_work_bytes,
} from "./diagonal";
export {
  norm_below_f64,
  norm_estimates_f64,
  norm_work_bytes,
  positive_definite_f64,
  positive_definite_work_bytes,
} from "./norm";
export {
  gram_column_bytes,
  gram_column_f64,
  gram_estimates_f64,
  gram_frob_bytes,
  gram_frob_coeffs_f64,
  gram_frob_column_f64,
  gram_r_bytes,
  gram_screen_f64,
  gram_table_f64,
  gram_taps_f64,
  gram_taps_work_bytes,
  gram_upper_f64,
  gram_work_bytes,
} from "./gram";

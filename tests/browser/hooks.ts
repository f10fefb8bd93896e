/**
 * Internals the browser test page reaches beside the bundle's public API
 * (bundled on its own by tests/browser.test.ts): how `"auto"` judges the
 * page's WebGPU adapter when the layer's work is past any crossover.
 * @module
 */
export { getGpu, isSoftware } from "../../src/_webgpu/device.ts";
export { resolveBackend, validateRun } from "../../src/_backend.ts";

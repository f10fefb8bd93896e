/**
 * Readers for model files: PyTorch safetensors, numpy `.npy`/`.npz`, ONNX
 * and TensorFlow.js. Each returns the model's convolution layers
 * ({@linkcode ConvLayer}: kernel, layout, stride, dilation, groups, padding,
 * input shape where the file tells it, and the BatchNorm that follows) ready
 * for the numerical functions of `@convsv/convsv`.
 *
 * This is its own export path because the ONNX reader depends on the npm
 * package `@bufbuild/protobuf`; the numerical core (`@convsv/convsv`) has no
 * dependencies.
 *
 * @example The operator norm of every conv layer of an .npy file
 * ```ts
 * import { readModelSync } from "@convsv/convsv/models";
 * import { operatorNormSync } from "@convsv/convsv";
 * import assert from "node:assert/strict";
 * // np.save of a float32 array of shape (1, 1, 1, 2): one Conv2d(1, 1, (1, 2)) weight [3, 4]
 * const header = "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1, 1, 2), }".padEnd(117) + "\n";
 * const bytes = new Uint8Array(10 + header.length + 8);
 * bytes.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0, header.length, 0]);
 * bytes.set(new TextEncoder().encode(header), 10);
 * bytes.set(new Uint8Array(new Float32Array([3, 4]).buffer), 10 + header.length);
 *
 * const model = readModelSync(bytes, { name: "conv.npy" });
 * assert.equal(model.format, "npy");
 * const [conv] = model.layers;
 * assert.deepEqual(conv.kernel.shape, [1, 1, 1, 2]);
 * const norm = operatorNormSync(conv.kernel, { inputShape: [4, 4], layout: conv.layout });
 * assert.ok(Math.abs(norm - 7) < 1e-12); // |3 + 4| at frequency 0
 * ```
 *
 * @module
 */
export * from "./model.ts";
export * from "./read_model.ts";

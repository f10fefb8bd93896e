/**
 * Folding a BatchNorm or per-channel scale into the preceding convolution.
 *
 * `y = γ·(conv(x) + b − μ)/√(σ² + ε) + β` is the convolution with output
 * channel `o` multiplied by `γ_o/√(σ²_o + ε)` (`γ_o` for a plain scale),
 * plus a constant. A constant does not change the Lipschitz constant, so the
 * folded kernel's norm is the norm of conv + BatchNorm.
 * @module
 */
import type { ChannelScale, ConvLayer } from "../model.ts";
import { CliError, layerGeometry, show } from "./layers.ts";

/** The factor each output channel of the layer is multiplied by. */
export function scaleFactors(scale: ChannelScale, layerName: string, cOut: number): Float64Array {
  const { gamma } = scale;
  const fail = (what: string): never => {
    throw new CliError(`Cannot fold ${scale.kind} ${show(scale.name)} into layer ${show(layerName)}: ${what}`);
  };
  if (gamma.length !== cOut) fail(`gamma has ${gamma.length} entries, the layer has ${cOut} output channels`);
  const out = new Float64Array(cOut);
  if (scale.kind === "scale") {
    out.set(gamma);
  } else {
    const v = scale.variance;
    if (!v) return fail("it has no variance");
    if (v.length !== cOut) fail(`variance has ${v.length} entries, the layer has ${cOut} output channels`);
    const eps = scale.epsilon ?? 1e-5;
    for (let o = 0; o < cOut; o++) {
      const d = v[o] + eps;
      if (!(d > 0)) fail(`variance + epsilon must be positive: current value is ${d} at channel ${o}`);
      out[o] = gamma[o] / Math.sqrt(d);
    }
  }
  for (let o = 0; o < cOut; o++) if (!Number.isFinite(out[o])) fail(`factor of channel ${o} is ${out[o]}`);
  return out;
}

/**
 * The layer with `layer.scale` folded into its kernel (a new f64 kernel; the
 * input is not modified) and the factors used. A layer without a scale is
 * returned as it is, with no factors.
 */
export function foldScale(layer: ConvLayer): { layer: ConvLayer; factors?: Float64Array } {
  if (!layer.scale) return { layer };
  const { rank, cOut } = layerGeometry(layer);
  const factors = scaleFactors(layer.scale, layer.name, cOut);
  const shape = layer.kernel.shape;
  const src = layer.kernel.data;
  const data = new Float64Array(src.length);
  const first = layer.layout.startsWith("oi");
  // Axis positions of "o" and "i" in storage order, and their strides.
  const oAxis = first ? 0 : rank + 1;
  const iAxis = first ? 1 : rank;
  const stride = (axis: number) => shape.slice(axis + 1).reduce((a, b) => a * b, 1);
  const oStride = stride(oAxis), iStride = stride(iAxis);
  const oSize = shape[oAxis], iSize = shape[iAxis];
  // Forward layer: output channel = o. Transposed layer (kernel of the forward
  // convolution it is the adjoint of): the "o" axis holds its input channels,
  // split in `groups` blocks of oSize/groups; group g's outputs are the "i"
  // axis, at g·iSize + i.
  const perGroupIn = oSize / layer.groups;
  for (let at = 0; at < src.length; at++) {
    const o = Math.floor(at / oStride) % oSize;
    const channel = layer.transposed ? Math.floor(o / perGroupIn) * iSize + (Math.floor(at / iStride) % iSize) : o;
    data[at] = src[at] * factors[channel];
  }
  return {
    layer: { ...layer, kernel: { data, shape: [...shape] }, scale: undefined },
    factors,
  };
}

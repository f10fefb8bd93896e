/**
 * TensorFlow.js models: `model.json` (a `layers-model` with a Keras topology,
 * a `graph-model` with a TensorFlow GraphDef, or a bare weights manifest as
 * face-api ships) and its weight shards, including the converter's
 * uint8/uint16/float16 quantisation.
 *
 * The weights are read by tfjs_weights.ts, a layers-model by tfjs_keras.ts, a
 * graph-model by tfjs_graph.ts (a node it cannot read is refused, naming it,
 * never read again as bare weights); a bare manifest is read here.
 * @module
 */
import type { ChannelScale, ConvLayer } from "../model.ts";
import { baseLayer, type Source, tfLayout, toFloat64, typeError } from "./_common.ts";
import { decode, depthwise, isObj, type Spec, weightSpecs } from "./tfjs_weights.ts";
import { kerasModelLayers } from "./tfjs_keras.ts";
import { type GNode, graphLayers } from "./tfjs_graph.ts";

/** A TF.js model as the readers take it: the parsed model.json and its shards in manifest order. */
export interface TfjsInput {
  modelJson: unknown;
  weights: Uint8Array[];
}

/**
 * A weights manifest with no topology (face-api's `*-weights_manifest.json`): every float weight of rank 3–5 is a
 * kernel read as TensorFlow's layout; names ending `depthwise_filter` or
 * `depthwise_kernel` are depthwise. `P/conv/filters` takes `P/scale/weights`
 * (and `P/scale/biases`) as its scale, face-api's ResNet convention.
 * Attributes are unknown: stride 1, circular padding, no input shape.
 */
function manifestLayers(src: Source, specs: Map<string, Spec>): ConvLayer[] {
  const layers: ConvLayer[] = [];
  for (const [key, s] of specs) {
    if (s.shape.length < 3 || s.shape.length > 5 || !/^(float32|float16)$/.test(s.dtype)) continue;
    const name = key.includes("/") ? key.slice(0, key.lastIndexOf("/")) : key;
    const last = key.slice(key.lastIndexOf("/") + 1);
    const data = decode(src, s);
    let layer: ConvLayer;
    if (/depthwise_(filter|kernel)$/.test(last)) layer = depthwise(`${name}/depthwise`, data, s.shape);
    else if (/pointwise_(filter|kernel)$/.test(last)) {
      layer = baseLayer(`${name}/pointwise`, data, s.shape, tfLayout(s.shape.length));
    } else layer = baseLayer(name, data, s.shape, tfLayout(s.shape.length));
    if (name.endsWith("/conv")) {
      const p = name.slice(0, -"/conv".length);
      const w = specs.get(`${p}/scale/weights`);
      const b = specs.get(`${p}/scale/biases`);
      if (w !== undefined && w.count === s.shape[s.shape.length - 1]) {
        const scale: ChannelScale = { kind: "scale", name: `${p}/scale`, gamma: toFloat64(decode(src, w)) };
        if (b !== undefined && b.count === w.count) scale.beta = toFloat64(decode(src, b));
        layer.scale = scale;
      }
    }
    layers.push(layer);
  }
  return layers;
}

/** Reads a TF.js model: a layers-model, a graph-model, or a bare weights manifest. */
export function readTfjs(
  input: TfjsInput,
  src: Source,
  options: { inputShape?: readonly number[] | undefined },
): ConvLayer[] {
  const json = input.modelJson;
  if (!Array.isArray(input.weights) || !input.weights.every((w) => w instanceof Uint8Array)) {
    throw typeError(src, "TF.js weights that are not a list of Uint8Array shards", typeof input.weights);
  }
  if (Array.isArray(json)) {
    return manifestLayers(src, weightSpecs(src, json, input.weights));
  }
  if (!isObj(json) || !Array.isArray(json.weightsManifest)) {
    throw typeError(src, "a TF.js model.json without a weightsManifest", isObj(json) ? Object.keys(json) : json);
  }
  const specs = weightSpecs(src, json.weightsManifest, input.weights);
  const topology = json.modelTopology;
  if (isObj(topology) && Array.isArray(topology.node)) {
    const nodes = (topology.node as unknown[]).map((n, j): GNode => {
      const ok = isObj(n) && typeof n.name === "string" && typeof n.op === "string" &&
        (n.input === undefined ||
          (Array.isArray(n.input) && Array.from(n.input).every((i) => typeof i === "string"))) &&
        (n.attr === undefined || isObj(n.attr));
      if (!ok) {
        throw typeError(
          src,
          `a TF.js graph-model whose node ${j} is not { name, op, input?: string[], attr?: {} }`,
          isObj(n) ? n.name ?? n : n,
        );
      }
      return n as unknown as GNode;
    });
    // a graph-model is read as a graph or refused naming the node: its weights alone would lose strides,
    // padding and depthwise groups
    const layers = graphLayers(src, nodes, specs, options.inputShape);
    if (layers.length === 0) {
      throw typeError(src, "a TF.js graph-model with no conv node (Conv2D, DepthwiseConv2dNative, …)", nodes.length);
    }
    return layers;
  }
  if (isObj(topology) && (typeof topology.class_name === "string" || isObj(topology.model_config))) {
    return kerasModelLayers(src, topology, specs, options.inputShape);
  }
  return manifestLayers(src, specs);
}
